/*
 * emu.c - the cycle-level EIE emulator (Han et al., ISCA 2016, section IV):
 * the timing model is documented next to spz_emu in spz.h, and this file
 * steps it one cycle at a time for the CCU and every PE.
 *
 * All PEs receive the same broadcast sequence, so the FIFOs are not stored
 * as queues: the list of non-zero activations of the layer is the common
 * content, the CCU's push count is the shared tail and each PE keeps its
 * own head (broadcasts popped). A FIFO's occupancy is tail - head; the
 * CCU stalls when tail - min(head) reaches the depth. That keeps a push
 * O(1) instead of O(PEs) and the state of a PE in one small struct, which
 * is what makes stepping every PE every cycle fast enough.
 */
#include "spz.h"

#include <stdlib.h>
#include <string.h>

#include "fixed_acc.h"

/* One PE: its slice of the current layer and the state of its units. */
struct pe {
	const uint8_t *code, *index;
	const uint32_t *ptr;
	int64_t *acc;            /* accumulators of the local rows */
	int64_t rows;
	/* sparse-matrix read unit: entries [pos, end) of column col left */
	uint32_t pos, end;
	int32_t a;
	int64_t row;             /* local row of the last slot issued */
	int64_t col;
	/* pointer register between the pointer and the matrix read units */
	int r_full;
	uint32_t r_start, r_end;
	int32_t r_a;
	int64_t r_col;
	uint64_t next;           /* broadcasts popped from the FIFO */
	/* rows and cycles of the last two real issues (bypass window) */
	int64_t by_row[2];
	uint64_t by_cyc[2];
	/* sparse-matrix SRAM row (of epr entries) last read */
	uint64_t mrow, mrow_next;
	uint64_t busy, idle, stalled, work;
};

struct spz_emu {
	const spz_eie *e;
	spz_emu_options opts;
	uint32_t lnzd;           /* cycles before the first broadcast */
	struct pe *pe;
	int64_t *acc;            /* pes * acc_stride */
	size_t acc_stride;
	int64_t *nzcol;          /* the layer's non-zero activations */
	int32_t *nzval;
	int16_t *buf[2];
	uint64_t *pe_busy, *pe_idle, *pe_stalled; /* per layer and PE */
	spz_emu_stats stats;
	uint64_t cycle;
};

void spz_emu_free(spz_emu *emu)
{
	if (!emu)
		return;
	free(emu->pe);
	free(emu->acc);
	free(emu->nzcol);
	free(emu->nzval);
	free(emu->buf[0]);
	free(emu->buf[1]);
	free(emu->pe_busy);
	free(emu->pe_idle);
	free(emu->pe_stalled);
	free(emu->stats.layers);
	free(emu);
}

int spz_emu_new(spz_emu **out, const spz_eie *e, const spz_emu_options *opts,
                spz_error *err)
{
	if (opts->fifo_depth < 1)
		return spz_fail(err, SPZ_EINVAL, "the FIFO depth must be at "
		                "least 1");
	if (!(opts->clock_mhz > 0))
		return spz_fail(err, SPZ_EINVAL, "the clock must be above 0 MHz");
	int rc = spz_eie_validate(e, err);
	if (rc)
		return rc;
	spz_emu *emu = calloc(1, sizeof *emu);
	if (!emu)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	emu->e = e;
	emu->opts = *opts;
	/* Depth of the leading-non-zero-detection quadtree (one node per 4
	 * PEs, then per 4 nodes): its latency before the first broadcast. */
	uint64_t span = 1;
	while (span < e->pes) {
		span *= 4;
		emu->lnzd++;
	}
	if (!emu->lnzd)
		emu->lnzd = 1;
	size_t wide = 1, rmax = 1, nl = e->n_layers;
	for (size_t n = 0; n < nl; n++) {
		const spz_eie_layer *l = &e->layers[n];
		if ((size_t)l->cols > wide)
			wide = (size_t)l->cols;
		if ((size_t)l->rows > wide)
			wide = (size_t)l->rows;
		if ((size_t)spz_eie_pe_rows(e, l, 0) > rmax)
			rmax = (size_t)spz_eie_pe_rows(e, l, 0);
	}
	emu->acc_stride = rmax;
	emu->pe = calloc(e->pes, sizeof *emu->pe);
	emu->acc = malloc((size_t)e->pes * rmax * sizeof *emu->acc);
	emu->nzcol = malloc(wide * sizeof *emu->nzcol);
	emu->nzval = malloc(wide * sizeof *emu->nzval);
	emu->buf[0] = malloc(wide * sizeof *emu->buf[0]);
	emu->buf[1] = malloc(wide * sizeof *emu->buf[1]);
	emu->pe_busy = calloc(nl * e->pes, sizeof *emu->pe_busy);
	emu->pe_idle = calloc(nl * e->pes, sizeof *emu->pe_idle);
	emu->pe_stalled = calloc(nl * e->pes, sizeof *emu->pe_stalled);
	emu->stats.layers = calloc(nl, sizeof *emu->stats.layers);
	emu->stats.n_layers = nl;
	if (!emu->pe || !emu->acc || !emu->nzcol || !emu->nzval ||
	    !emu->buf[0] || !emu->buf[1] || !emu->pe_busy || !emu->pe_idle ||
	    !emu->pe_stalled || !emu->stats.layers) {
		spz_emu_free(emu);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	*out = emu;
	return 0;
}

const spz_emu_stats *spz_emu_stats_get(const spz_emu *emu)
{
	return &emu->stats;
}

uint64_t spz_emu_cycle(const spz_emu *emu)
{
	return emu->cycle;
}

/* What one layer run adds to the statistics, beyond the per-PE counts. */
struct tally {
	uint64_t cycles, fixed, entries, padding, ptr_reads, mreads;
	uint64_t stalls, bypasses, sats, occupancy, nnz, out_nz;
	uint32_t occ_max;
};

static int emit(spz_emu *emu, uint64_t c, int32_t pe, const char *ev,
                uint32_t layer, int64_t col, int64_t row)
{
	spz_emu_event x = {emu->cycle + c, pe, ev, layer, col, row};
	return emu->opts.trace(emu->opts.trace_ctx, &x);
}

static int tracing(const spz_emu *emu, uint64_t c)
{
	uint64_t g = emu->cycle + c;
	return emu->opts.trace && g >= emu->opts.trace_from &&
	       g < emu->opts.trace_to;
}

/* Emulates layer n on x (Q(fin)) into y (Q(fout)). */
static int run_layer(spz_emu *emu, size_t n, int16_t *y, const int16_t *x,
                     int fin, int fout, struct tally *t)
{
	const spz_eie *e = emu->e;
	const spz_eie_layer *l = &e->layers[n];
	const uint32_t N = e->pes;
	const uint64_t D = emu->opts.fifo_depth, L = emu->lnzd;
	const int16_t *cb = l->codebook;
	uint64_t epr = (uint64_t)(64 / (l->code_bits + e->index_bits));
	if (!epr)
		epr = 1;
	int rc = 0;

	/* The detection's result: the order of broadcasts. */
	uint64_t nnz = 0;
	for (int64_t j = 0; j < l->cols; j++)
		if (x[j]) {
			emu->nzcol[nnz] = j;
			emu->nzval[nnz++] = x[j];
		}
	for (uint32_t p = 0; p < N; p++) {
		struct pe *st = &emu->pe[p];
		memset(st, 0, sizeof *st);
		st->code = l->pe[p].code;
		st->index = l->pe[p].index;
		st->ptr = l->pe[p].ptr;
		st->rows = spz_eie_pe_rows(e, l, p);
		st->acc = emu->acc + (size_t)p * emu->acc_stride;
		memset(st->acc, 0, (size_t)st->rows * sizeof *st->acc);
		st->by_row[0] = st->by_row[1] = -1;
		st->mrow = UINT64_MAX;
	}

	uint64_t pushed = 0, min_next = 0, sum_next = 0, last_issue = 0;
	uint64_t entries = 0, padding = 0, ptr_reads = 0, mreads = 0;
	uint64_t bypasses = 0, sats = 0, stalls = 0, occupancy = 0;
	uint64_t occ_max = 0;
	int issued = 0;
	uint64_t c;
	for (c = 0;; c++) {
		int pending = pushed < nnz && c >= L;
		int blocked = pending && pushed - min_next >= D;
		int tr = tracing(emu, c);
		occupancy += (uint64_t)N * pushed - sum_next;
		if (pushed - min_next > occ_max)
			occ_max = pushed - min_next;
		uint64_t vis = pushed, mn = UINT64_MAX;
		int left = 0;
		for (uint32_t p = 0; p < N; p++) {
			struct pe *st = &emu->pe[p];
			int did = 0;
			/* Sparse-matrix read unit: next entry, or the next
			 * column from the pointer register. */
			if (st->pos == st->end && st->r_full) {
				st->pos = st->r_start;
				st->end = st->r_end;
				st->a = st->r_a;
				st->col = st->r_col;
				st->row = -1;
				st->r_full = 0;
				uint64_t mr = st->pos / epr;
				if (mr != st->mrow) {
					mreads++;
					st->mrow = mr;
				}
				st->mrow_next = (mr + 1) * epr;
			}
			if (st->pos < st->end) {
				uint32_t pos = st->pos++;
				int64_t row = st->row + 1 + st->index[pos];
				uint8_t cd = st->code[pos];
				st->row = row;
				if (pos == st->mrow_next) {
					mreads++;
					st->mrow++;
					st->mrow_next += epr;
				}
				if (cd) {
					int64_t v = st->acc[row] +
					            (int32_t)cb[cd] * st->a;
					if (v > SPZ_ACC_MAX) {
						v = SPZ_ACC_MAX;
						sats++;
					} else if (v < SPZ_ACC_MIN) {
						v = SPZ_ACC_MIN;
						sats++;
					}
					st->acc[row] = v;
					if ((row == st->by_row[0] &&
					     c - st->by_cyc[0] <= 2) ||
					    (row == st->by_row[1] &&
					     c - st->by_cyc[1] <= 2))
						bypasses++;
					st->by_row[1] = st->by_row[0];
					st->by_cyc[1] = st->by_cyc[0];
					st->by_row[0] = row;
					st->by_cyc[0] = c;
				} else {
					padding++;
				}
				entries++;
				last_issue = c;
				issued = 1;
				did = 1;
				if (tr && (rc = emit(emu, c, (int32_t)p,
				                     cd ? "mac" : "pad",
				                     (uint32_t)n, st->col,
				                     row * N + p)))
					return rc;
			}
			/* Pointer read unit: pop and read p[j], p[j+1]. */
			if (!st->r_full && st->next < vis) {
				uint64_t k = st->next++;
				int64_t j = emu->nzcol[k];
				uint32_t s = st->ptr[j], en = st->ptr[j + 1];
				sum_next++;
				ptr_reads++;
				st->work += en > s ? en - s : 1;
				if (en > s) {
					st->r_full = 1;
					st->r_start = s;
					st->r_end = en;
					st->r_a = emu->nzval[k];
					st->r_col = j;
				}
				did = 1;
				if (tr && (rc = emit(emu, c, (int32_t)p, "ptr",
				                     (uint32_t)n, j, -1)))
					return rc;
			}
			if (did)
				st->busy++;
			else if (blocked)
				st->stalled++;
			else
				st->idle++;
			if (tr && !did &&
			    (rc = emit(emu, c, (int32_t)p,
			               blocked ? "stall" : "idle", (uint32_t)n,
			               -1, -1)))
				return rc;
			if (st->next < mn)
				mn = st->next;
			left |= st->pos < st->end || st->r_full ||
			        st->next < nnz;
		}
		min_next = mn;
		if (blocked) {
			stalls++;
			if (tr && (rc = emit(emu, c, -1, "stall", (uint32_t)n,
			                     emu->nzcol[pushed], -1)))
				return rc;
		} else if (pending) {
			if (tr && (rc = emit(emu, c, -1, "bcast", (uint32_t)n,
			                     emu->nzcol[pushed], -1)))
				return rc;
			pushed++;
		}
		if (!left && pushed == nnz && c + 1 >= L &&
		    (!issued || c >= last_issue + 4))
			break;
	}
	uint64_t E = c + 1, rmax = (uint64_t)spz_eie_pe_rows(e, l, 0);

	/* Finishing pass: one local row per PE per cycle. */
	uint64_t out_nz = 0;
	for (uint64_t r = 0; r < rmax; r++) {
		int tr = tracing(emu, E + r);
		for (uint32_t p = 0; p < N; p++) {
			struct pe *st = &emu->pe[p];
			if ((int64_t)r >= st->rows) {
				st->idle++;
				if (tr && (rc = emit(emu, E + r, (int32_t)p,
				                     "idle", (uint32_t)n, -1, -1)))
					return rc;
				continue;
			}
			int64_t i = (int64_t)r * N + p;
			y[i] = spz_eie_finish_row(st->acc[r], l, i, fin, fout,
			                          &sats);
			out_nz += y[i] != 0;
			st->busy++;
			if (tr && (rc = emit(emu, E + r, (int32_t)p, "finish",
			                     (uint32_t)n, -1, i)))
				return rc;
		}
	}
	t->cycles = E + rmax;
	t->fixed = L + rmax;
	t->entries = entries;
	t->padding = padding;
	t->ptr_reads = ptr_reads;
	t->mreads = mreads;
	t->stalls = stalls;
	t->bypasses = bypasses;
	t->sats = sats;
	t->occupancy = occupancy;
	t->occ_max = (uint32_t)occ_max;
	t->nnz = nnz;
	t->out_nz = out_nz;
	return 0;
}

static spz_emu_range range_of(const uint64_t *v, uint32_t n)
{
	spz_emu_range r = {UINT64_MAX, 0, 0};
	for (uint32_t p = 0; p < n; p++) {
		if (v[p] < r.min)
			r.min = v[p];
		if (v[p] > r.max)
			r.max = v[p];
		r.mean += (double)v[p];
	}
	r.mean /= n;
	return r;
}

/* Folds a layer run into the statistics (energy per spz.h's table). */
static void account(spz_emu *emu, size_t n, const struct tally *t, int fin,
                    int fout)
{
	const spz_eie *e = emu->e;
	const spz_eie_layer *l = &e->layers[n];
	const spz_energy_table *et = &emu->opts.energy;
	spz_emu_layer_stats *s = &emu->stats.layers[n];
	uint32_t N = e->pes;
	uint64_t work = 0, wmax = 0, busy = 0;
	uint64_t *pb = emu->pe_busy + n * N, *pi = emu->pe_idle + n * N;
	uint64_t *ps = emu->pe_stalled + n * N;
	for (uint32_t p = 0; p < N; p++) {
		const struct pe *st = &emu->pe[p];
		work += st->work;
		if (st->work > wmax)
			wmax = st->work;
		pb[p] += st->busy;
		pi[p] += st->idle;
		ps[p] += st->stalled;
	}
	for (uint32_t p = 0; p < N; p++)
		busy += pb[p];
	s->cycles += t->cycles;
	s->cycles_fixed += t->fixed;
	s->cycles_theoretical += (work + N - 1) / N;
	s->cycles_analytical += wmax;
	s->work += work;
	s->entries += t->entries;
	s->padding_entries += t->padding;
	s->broadcasts += t->nnz;
	s->ccu_stall_cycles += t->stalls;
	s->pointer_reads += t->ptr_reads;
	s->matrix_reads += t->mreads;
	s->act_reads += (uint64_t)l->cols;
	s->bypasses += t->bypasses;
	s->saturations += t->sats;
	s->act_in += (uint64_t)l->cols;
	s->act_in_nonzero += t->nnz;
	s->act_out += (uint64_t)l->rows;
	s->act_out_nonzero += t->out_nz;
	s->fifo_occupancy += t->occupancy;
	if (t->occ_max > s->fifo_max)
		s->fifo_max = t->occ_max;
	s->pe_busy = range_of(pb, N);
	s->pe_idle = range_of(pi, N);
	s->pe_stalled = range_of(ps, N);
	s->load_balance = s->cycles ? (double)busy / ((double)N *
	                                              (double)s->cycles)
	                            : 0;
	s->frac_in = fin;
	s->frac_out = fout;
	double acc_add = spz_energy_add(et, SPZ_ACC_BITS);
	s->energy_pj =
		(double)s->entries * (spz_energy_mult(et, 16) + acc_add) +
		(double)s->act_out * acc_add +
		(double)s->matrix_reads * spz_energy_sram(et, 64) +
		(double)s->pointer_reads * 2 * spz_energy_sram(et, 16) +
		(double)s->act_reads * spz_energy_sram(et, 16);
	s->time_us = (double)s->cycles / emu->opts.clock_mhz;
}

int spz_emu_run(spz_emu *emu, int16_t *y, const int16_t *x, const int *frac,
                spz_error *err)
{
	const spz_eie *e = emu->e;
	for (size_t n = 0; n <= e->n_layers; n++)
		if (frac[n] < SPZ_FRAC_MIN || frac[n] > SPZ_FRAC_MAX)
			return spz_fail(err, SPZ_EINVAL, "activation fraction "
			                "bits %d are outside %d..%d", frac[n],
			                SPZ_FRAC_MIN, SPZ_FRAC_MAX);
	const int16_t *in = x;
	int16_t *out = NULL;
	for (size_t n = 0; n < e->n_layers; n++) {
		struct tally t;
		out = emu->buf[n & 1];
		int rc = run_layer(emu, n, out, in, frac[n], frac[n + 1], &t);
		if (rc)
			return spz_fail(err, rc, "the trace callback failed at "
			                "layer '%s'", e->layers[n].node);
		account(emu, n, &t, frac[n], frac[n + 1]);
		emu->cycle += t.cycles;
		in = out;
	}
	memcpy(y, out,
	       (size_t)e->layers[e->n_layers - 1].rows * sizeof *y);
	spz_emu_stats *s = &emu->stats;
	s->runs++;
	s->cycles = 0;
	s->time_us = s->energy_pj = 0;
	for (size_t n = 0; n < e->n_layers; n++) {
		s->cycles += s->layers[n].cycles;
		s->time_us += s->layers[n].time_us;
		s->energy_pj += s->layers[n].energy_pj;
	}
	return 0;
}
