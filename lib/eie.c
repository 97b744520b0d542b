/*
 * eie.c - packing a quantized fully connected chain into the EIE storage
 * format (Han et al., ISCA 2016, section III): rows interleaved over PEs,
 * each PE's slice stored column by column as (code, relative row index)
 * entries with padding entries when a run of zeros exceeds the index range.
 *
 * The way back (unpack) and the checks every image must pass (validate)
 * live in eie_unpack.c.
 */
#include "spz.h"
#include "big_alloc.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static char *dupstr(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_layer(spz_eie_layer *l, uint32_t pes)
{
	free(l->node);
	free(l->op);
	free(l->weight);
	free(l->bias_name);
	free(l->act_node);
	free(l->input);
	free(l->linear_out);
	free(l->output);
	free(l->add_node);
	free(l->add_out);
	free(l->pre_op);
	free(l->pre_node);
	free(l->pre_input);
	free(l->pre_shape);
	free(l->bias);
	for (uint32_t k = 0; l->pe && !l->pe_store && k < pes; k++) {
		free(l->pe[k].code);
		free(l->pe[k].index);
		free(l->pe[k].ptr);
	}
	free(l->pe_store);
	free(l->pe);
}

void spz_eie_free(spz_eie *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_layers; i++)
		free_layer(&e->layers[i], e->pes);
	free(e->layers);
	free(e->name);
	free(e);
}

int64_t spz_eie_pe_rows(const spz_eie *e, const spz_eie_layer *l,
                        uint32_t k)
{
	return l->rows > k ? (l->rows - k + e->pes - 1) / e->pes : 0;
}

uint64_t spz_eie_pe_work(const spz_eie *e, const spz_eie_layer *l,
                         uint32_t k, const uint8_t *active)
{
	(void)e;
	const uint32_t *p = l->pe[k].ptr;
	uint64_t work = 0;
	for (int64_t j = 0; j < l->cols; j++) {
		if (active && !active[j])
			continue;
		uint32_t n = p[j + 1] - p[j];
		work += n ? n : 1;
	}
	return work;
}

/* Bit q set iff p[q] != 0, for q < 64. */
static inline uint64_t nonzero_mask64(const uint8_t *p)
{
#if defined(__SSE2__)
	const __m128i zero = _mm_setzero_si128();
	uint64_t m = 0;
	for (int q = 0; q < 4; q++) {
		__m128i v = _mm_loadu_si128((const void *)(p + 16 * q));
		m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero))
		     << (16 * q);
	}
	return ~m;
#else
	uint64_t m = 0;
	for (int q = 0; q < 64; q++)
		m |= (uint64_t)(p[q] != 0) << q;
	return m;
#endif
}

/* Index of the lowest set bit of m != 0. */
static inline unsigned lowest_bit(uint64_t m)
{
#if defined(__GNUC__)
	return (unsigned)__builtin_ctzll(m);
#else
	unsigned n = 0;
	for (; !(m & 1); m >>= 1)
		n++;
	return n;
#endif
}

/* Set bits of m (without -mpopcnt, __builtin_popcountll is a call). */
static inline unsigned count_bits(uint64_t m)
{
	m -= (m >> 1) & UINT64_C(0x5555555555555555);
	m = (m & UINT64_C(0x3333333333333333)) +
	    ((m >> 2) & UINT64_C(0x3333333333333333));
	m = (m + (m >> 4)) & UINT64_C(0x0F0F0F0F0F0F0F0F);
	return (unsigned)((m * UINT64_C(0x0101010101010101)) >> 56);
}

/*
 * Positions of the non-zero bytes of p[0..n) into idx, in order; returns
 * their count. idx needs room for n + 8. A mask of 64 bytes at a time,
 * whose set bits become positions eight at a time without a branch (at 9%
 * density a block has about six, and a branch per byte or per bit would
 * mispredict), the rare rest in a loop; the unused ones of the eight land
 * in idx's spare room and are overwritten. next[0..n) is what the caller
 * scans next, fetched into the cache meanwhile: rows read a PE's stride
 * apart defeat the hardware's prefetching (a third slower without).
 */
static size_t find_nonzeros(const uint8_t *p, size_t n, uint32_t *idx,
                            const uint8_t *next)
{
	const uint64_t top = UINT64_C(1) << 63;
	size_t c = 0, i = 0;
	for (; i + 64 <= n; i += 64) {
#if defined(__GNUC__)
		__builtin_prefetch(next + i);
#else
		(void)next;
#endif
		uint64_t m = nonzero_mask64(p + i);
		unsigned k = count_bits(m);
		for (int q = 0; q < 8; q++) {
			idx[c + (size_t)q] = (uint32_t)i + lowest_bit(m | top);
			m &= m - 1;
		}
		for (unsigned q = 8; q < k; q++) {
			idx[c + q] = (uint32_t)i + lowest_bit(m);
			m &= m - 1;
		}
		c += k;
	}
	for (; i < n; i++)
		if (p[i])
			idx[c++] = (uint32_t)i;
	return c;
}

/* Word w of mask with the bits outside elements [start, end) cleared. */
static inline uint64_t mask_word_in(const uint64_t *mask, uint64_t w,
                                    uint64_t start, uint64_t end)
{
	uint64_t base = w * 64, m = mask[w];
	if (base < start)
		m &= ~UINT64_C(0) << (start - base);
	if (end - base < 64)
		m &= (UINT64_C(1) << (end - base)) - 1;
	return m;
}

/*
 * A weight in the sparse form (spz_tensor.mask): the positions of the set
 * bits of elements [start, start + len) relative to start, into idx (room
 * for len), in order; returns their count. The codes of those entries are
 * the next ones of nz_codes, in the same order, so no dense array of
 * codes is ever built (a 4096x9216 layer: 37.7 MB, cleared and scattered,
 * to find 3.4 million entries again).
 */
static size_t mask_range(const uint64_t *mask, uint64_t start, uint64_t len,
                         uint32_t *idx)
{
	const uint64_t top = UINT64_C(1) << 63;
	size_t c = 0;
	uint64_t end = start + len;
	for (uint64_t w = start >> 6; w * 64 < end; w++) {
		uint64_t base = w * 64, m = mask_word_in(mask, w, start, end);
		/* As find_nonzeros: eight positions without a branch (the
		 * spare ones land in idx's room of len + 8 and are
		 * overwritten), the rare rest in a loop. */
		unsigned k = count_bits(m);
		uint32_t off = (uint32_t)(base - start);
		for (int q = 0; q < 8; q++) {
			idx[c + (size_t)q] = off + lowest_bit(m | top);
			m &= m - 1;
		}
		for (unsigned q = 8; q < k; q++) {
			idx[c + q] = off + lowest_bit(m);
			m &= m - 1;
		}
		c += k;
	}
	return c;
}

/* Set bits of elements [start, start + len). */
static uint64_t mask_count(const uint64_t *mask, uint64_t start,
                           uint64_t len)
{
	uint64_t c = 0, end = start + len;
	for (uint64_t w = start >> 6; w * 64 < end; w++)
		c += count_bits(mask_word_in(mask, w, start, end));
	return c;
}

/* Where a weight's codes come from: dense codes, or the sparse form. */
typedef struct source {
	const uint8_t *codes;     /* dense; NULL for the sparse form */
	const uint64_t *mask;
	const uint8_t *nz_codes;
} source;

/*
 * Where one (PE, column) cell stands while its entries are laid: the local
 * row of its previous slot (-1 before the first). An entry exists exactly
 * where the code is non-zero (code 0 is the zero weight and the padding
 * code), which keeps pack -> unpack -> pack byte-identical even when a
 * codebook value rounds to 0 in fixed point. A gap of g zero rows needs
 * g >> bits paddings (each padding slot stands for 2^bits rows: 2^bits - 1
 * zeros and itself), then an entry with z = g mod 2^bits; this reproduces
 * the paper's [0,0,1,2,0x18,3] -> v = [1,2,0,3], z = [2,0,15,2].
 *
 * Both passes use pe->ptr: pass 0 counts column j's slots in ptr[j + 1];
 * after the prefix sum, pass 1 writes column j at ptr[j]++ (so each ptr[j]
 * ends at ptr[j + 1]) and shift_back restores the pointers.
 */
typedef struct layout {
	int shift;
	uint8_t maxz;
	uint64_t nonzeros, padding;
	/* With the layer's pe_store: where the next PE's entries go. */
	uint8_t *code_next, *index_next;
} layout;

/* last is the cell's previous local row. */
static inline void count_slot(layout *lo, uint32_t *ptr, int32_t *last,
                              uint32_t j, int32_t r)
{
	uint32_t pad = (uint32_t)(r - *last - 1) >> lo->shift;
	ptr[j + 1] += pad + 1;
	lo->padding += pad;
	lo->nonzeros++;
	*last = r;
}

/* Arrays and widths by value: every byte stored could alias a struct
 * field, which the compiler would otherwise reload per entry. */
static inline void put_slot(uint8_t *code, uint8_t *index, uint32_t *ptr,
                            int shift, uint8_t maxz, int32_t *last,
                            uint32_t j, int32_t r, uint8_t v)
{
	uint32_t gap = (uint32_t)(r - *last - 1), pad = gap >> shift;
	uint32_t at = ptr[j];
	/* The first padding is written whether or not there is one (the
	 * entry overwrites it if not): about one entry in five has one, a
	 * branch that mispredicts too often. */
	code[at] = 0;
	index[at] = maxz;
	for (uint32_t p = 1; p < pad; p++) {
		code[at + p] = 0;
		index[at + p] = maxz;
	}
	at += pad;
	code[at] = v;
	index[at] = (uint8_t)(gap & maxz);
	ptr[j] = at + 1;
	*last = r;
}

/* Turns counts in ptr[1..cols] into pointers and allocates the entries
 * (the next ones of the layer's store, when it has one). */
static int lay_out(spz_eie_pe *pe, int64_t cols, const spz_eie_layer *l,
                   uint32_t k, layout *lo, spz_error *err)
{
	uint64_t total = 0;
	for (int64_t j = 0; j < cols; j++) {
		total += pe->ptr[j + 1];
		if (total > UINT32_MAX)
			return spz_fail(err, SPZ_ERANGE, "layer '%s': PE %u would "
			                "hold more than 4294967295 entries; use "
			                "more PEs", l->node, k);
		pe->ptr[j + 1] = (uint32_t)total;
	}
	pe->n_entries = total;
	if (l->pe_store) {
		pe->code = lo->code_next;
		pe->index = lo->index_next;
		lo->code_next += total + 1;
		lo->index_next += total + 1;
		return 0;
	}
	pe->code = malloc(total + 1);
	pe->index = malloc(total + 1);
	if (!pe->code || !pe->index)
		return spz_fail(err, SPZ_ENOMEM, "out of memory packing '%s'",
		                l->weight);
	return 0;
}

static void shift_back(uint32_t *ptr, int64_t cols)
{
	for (int64_t j = cols; j > 0; j--)
		ptr[j] = ptr[j - 1];
	ptr[0] = 0;
}

/* Scratch shared by a layer's walks. */
typedef struct scratch {
	int32_t *last;    /* per cell of the current walk: previous local row */
	uint32_t *idx;    /* found non-zero positions */
	size_t cap;       /* entries idx can hold */
	uint64_t *ends;   /* pack_rows: end of each local row's run in idx */
} scratch;

/* Makes room for `more` positions after `used` in s->idx. */
static int reserve(scratch *s, size_t used, size_t more)
{
	if (used + more <= s->cap)
		return 0;
	size_t cap = s->cap * 2 > used + more ? s->cap * 2 : used + more;
	uint32_t *n = realloc(s->idx, cap * sizeof *n);
	if (!n)
		return SPZ_ENOMEM;
	s->idx = n;
	s->cap = cap;
	return 0;
}

/*
 * Weight stored [rows, cols] (Gemm transB=1): PE by PE, its rows k,
 * k + pes, ... in order, scanned once; the positions found are kept
 * (O(non-zeros of one PE)) for the second pass, and the per-column state
 * is O(cols). PEs [k0, k1) here; rowoff: where each row's codes start in
 * nz_codes (sparse form), else NULL.
 */
static int pack_rows_range(spz_eie *e, spz_eie_layer *l, const source *src,
                           const uint64_t *rowoff, layout *lo, scratch *s,
                           uint32_t k0, uint32_t k1, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	const uint8_t *codes = src->codes;
	int rc = 0;
	for (uint32_t k = k0; !rc && k < k1; k++) {
		spz_eie_pe *pe = &l->pe[k];
		size_t used = 0;
		for (int64_t j = 0; j < cols; j++)
			s->last[j] = -1;
		int32_t r = 0;
		for (int64_t i = k; !rc && i < rows; i += e->pes, r++) {
			if (reserve(s, used, (size_t)cols + 8)) {
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory "
				              "packing '%s'", l->weight);
				break;
			}
			/* The row after: this PE's next, or the next PE's
			 * first. */
			int64_t after = i + e->pes < rows ? i + e->pes
			                : k + 1 < e->pes && k + 1 < rows ? k + 1 : i;
			if (codes)
				used += find_nonzeros(codes + i * cols,
				                      (size_t)cols, s->idx + used,
				                      codes + after * cols);
			else
				used += mask_range(src->mask,
				                   (uint64_t)(i * cols),
				                   (uint64_t)cols, s->idx + used);
			s->ends[r] = used;
			for (size_t t = r ? s->ends[r - 1] : 0; t < used; t++)
				count_slot(lo, pe->ptr, &s->last[s->idx[t]],
				           s->idx[t], r);
		}
		if (!rc)
			rc = lay_out(pe, cols, l, k, lo, err);
		if (rc)
			break;
		int32_t *last = s->last;
		const uint32_t *idx = s->idx;
		uint8_t *code = pe->code, *index = pe->index, maxz = lo->maxz;
		uint32_t *ptr = pe->ptr;
		int shift = lo->shift;
		for (int64_t j = 0; j < cols; j++)
			last[j] = -1;
		size_t t = 0;
		r = 0;
		for (int64_t i = k; i < rows; i += e->pes, r++) {
			size_t end = s->ends[r];
			if (codes) {
				const uint8_t *row = codes + i * cols;
				for (; t < end; t++)
					put_slot(code, index, ptr, shift, maxz,
					         &last[idx[t]], idx[t], r,
					         row[idx[t]]);
				continue;
			}
			/* The row's codes in order, as its positions are. */
			const uint8_t *nzc = src->nz_codes + rowoff[i] - t;
			for (; t < end; t++)
				put_slot(code, index, ptr, shift, maxz,
				         &last[idx[t]], idx[t], r, nzc[t]);
		}
		shift_back(pe->ptr, cols);
	}
	return rc;
}

/* The second half of a layer's PEs, packed on a thread of their own. */
typedef struct rows_job {
	spz_eie *e;
	spz_eie_layer *l;
	const source *src;
	const uint64_t *rowoff;
	layout lo;
	scratch s;
	uint32_t k0, k1;
	int rc;
	spz_error err;
} rows_job;

static void *rows_main(void *arg)
{
	rows_job *j = arg;
	j->rc = pack_rows_range(j->e, j->l, j->src, j->rowoff, &j->lo, &j->s,
	                        j->k0, j->k1, &j->err);
	return NULL;
}

/* Layers of at least this many weights pack their PEs on two threads:
 * the halves are independent but for where their entries go. */
#define PACK_THREAD_MIN (INT64_C(1) << 22)

static int pack_rows(spz_eie *e, spz_eie_layer *l, const source *src,
                     layout *lo, scratch *s, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	/* Sparse form: where each row's codes start in nz_codes. */
	uint64_t *rowoff = NULL;
	if (!src->codes) {
		rowoff = malloc((size_t)rows * sizeof *rowoff);
		if (!rowoff)
			return spz_fail(err, SPZ_ENOMEM, "out of memory "
			                "packing '%s'", l->weight);
		uint64_t at = 0;
		for (int64_t i = 0; i < rows; i++) {
			rowoff[i] = at;
			at += mask_count(src->mask, (uint64_t)(i * cols),
			                 (uint64_t)cols);
		}
	}
	/* PEs [half, pes) on a second thread, with scratch of their own and
	 * (with the layer's store) entries from past the most the first
	 * half can hold: a PE's entries are at most its rows times cols,
	 * plus one. The image is the same bytes whoever packs a PE. */
	uint32_t half = e->pes / 2;
	rows_job job = {.e = e, .l = l, .src = src, .rowoff = rowoff,
	                .lo = *lo, .k0 = half, .k1 = e->pes};
	int threaded = rows * cols >= PACK_THREAD_MIN && half > 0 &&
	               (int64_t)e->pes <= rows;
	if (threaded) {
		size_t local = (size_t)((rows + e->pes - 1) / e->pes);
		job.s.last = malloc((size_t)cols * sizeof *job.s.last);
		job.s.ends = malloc(local * sizeof *job.s.ends);
		threaded = job.s.last && job.s.ends;
		job.lo.nonzeros = job.lo.padding = 0;
		if (l->pe_store) {
			uint64_t skip = 0;
			for (uint32_t k = 0; k < half; k++)
				skip += (uint64_t)((rows - k + e->pes - 1) /
				                   e->pes) * (uint64_t)cols + 1;
			job.lo.code_next += skip;
			job.lo.index_next += skip;
		}
	}
	pthread_t th;
	if (threaded && pthread_create(&th, NULL, rows_main, &job))
		threaded = 0;
	int rc = pack_rows_range(e, l, src, rowoff, lo, s, 0,
	                         threaded ? half : e->pes, err);
	if (threaded) {
		pthread_join(th, NULL);
		lo->nonzeros += job.lo.nonzeros;
		lo->padding += job.lo.padding;
		if (!rc && job.rc)
			rc = spz_fail(err, job.rc, "%s", job.err.text);
	}
	free(job.s.last);
	free(job.s.idx);
	free(job.s.ends);
	free(rowoff);
	return rc;
}

/*
 * Weight stored [cols, rows] (MatMul, Gemm transB=0): column by column,
 * every PE's cell of that column at once; kof / rof map a row to its PE
 * and local row without a division per entry.
 */
static int pack_cols(spz_eie *e, spz_eie_layer *l, const source *src,
                     layout *lo, scratch *s, spz_error *err)
{
	const uint8_t *codes = src->codes;
	int64_t rows = l->rows, cols = l->cols;
	uint32_t *kof = malloc((size_t)rows * sizeof *kof);
	int32_t *rof = malloc((size_t)rows * sizeof *rof);
	int rc = kof && rof && !reserve(s, 0, (size_t)rows + 8)
	                 ? 0
	                 : spz_fail(err, SPZ_ENOMEM, "out of memory packing "
	                            "'%s'", l->weight);
	for (int64_t i = 0; !rc && i < rows; i++) {
		kof[i] = (uint32_t)(i % e->pes);
		rof[i] = (int32_t)(i / e->pes);
	}
	for (int pass = 0; !rc && pass < 2; pass++) {
		const uint8_t *nzc = src->nz_codes; /* column j's codes */
		for (int64_t j = 0; j < cols; j++) {
			const uint8_t *col = codes ? codes + j * rows : NULL;
			size_t n = codes ? find_nonzeros(col, (size_t)rows,
			                                 s->idx,
			                                 j + 1 < cols ? col + rows
			                                              : col)
			                 : mask_range(src->mask,
			                              (uint64_t)(j * rows),
			                              (uint64_t)rows, s->idx);
			/* last[] is indexed by PE here: the cell is (k, j). */
			for (uint32_t k = 0; k < e->pes; k++)
				s->last[k] = -1;
			for (size_t t = 0; t < n; t++) {
				uint32_t i = s->idx[t], k = kof[i];
				if (pass == 0)
					count_slot(lo, l->pe[k].ptr, &s->last[k],
					           (uint32_t)j, rof[i]);
				else
					put_slot(l->pe[k].code, l->pe[k].index,
					         l->pe[k].ptr, lo->shift, lo->maxz,
					         &s->last[k], (uint32_t)j, rof[i],
					         col ? col[i] : nzc[t]);
			}
			if (!codes)
				nzc += n;
		}
		for (uint32_t k = 0; !rc && pass == 0 && k < e->pes; k++)
			rc = lay_out(&l->pe[k], cols, l, k, lo, err);
	}
	for (uint32_t k = 0; !rc && k < e->pes; k++)
		shift_back(l->pe[k].ptr, cols);
	free(kof);
	free(rof);
	return rc;
}

/* Packs one layer: pointers per PE, then the entries. */
static int pack_layer(spz_eie *e, spz_eie_layer *l, const spz_tensor *w,
                      spz_error *err)
{
	uint32_t pes = e->pes;
	int64_t cols = l->cols;
	size_t nlast = (size_t)(l->transposed ? pes : cols);
	size_t local = (size_t)((l->rows + pes - 1) / pes);
	layout lo = {.shift = e->index_bits,
	             .maxz = (uint8_t)SPZ_EIE_MAX_Z(e)};
	scratch *s = calloc(1, sizeof *s);
	if (s) {
		s->last = malloc(nlast * sizeof *s->last);
		s->ends = malloc(local * sizeof *s->ends);
	}
	l->pe = calloc(pes, sizeof *l->pe);
	int rc = s && s->last && s->ends && l->pe ? 0 : SPZ_ENOMEM;
	/*
	 * Every PE's pointers and entries in one store: a PE's entries are
	 * at most its rows times the columns (each slot stands for a row or
	 * more), so rows x cols (+1 a PE) bounds them all; the pages never
	 * filled are never touched and cost nothing, and the ones filled
	 * are huge pages (spz_alloc_fresh), where 128 separate arrays would
	 * take a fault per 4 KiB (a fifth of the time of packing fc6).
	 * Past 2^33 elements (16 GB reserved) or when the reservation
	 * fails, each PE gets its own arrays.
	 */
	uint64_t elems = (uint64_t)l->rows * (uint64_t)cols;
	size_t pb = (size_t)pes * ((size_t)cols + 1) * sizeof(uint32_t);
	if (!rc && elems <= (UINT64_C(1) << 33)) {
		size_t r = (size_t)elems + pes;
		uint8_t *st = spz_alloc_fresh(pb + 2 * r);
		if (st) {
			memset(st, 0, pb);
			l->pe_store = st;
			lo.code_next = st + pb;
			lo.index_next = st + pb + r;
			for (uint32_t k = 0; k < pes; k++)
				l->pe[k].ptr = (uint32_t *)(void *)st +
				               (size_t)k * ((size_t)cols + 1);
		}
	}
	for (uint32_t k = 0; !rc && !l->pe_store && k < pes; k++)
		if (!(l->pe[k].ptr = calloc((size_t)cols + 1, sizeof(uint32_t))))
			rc = SPZ_ENOMEM;
	source src = {w->codes, w->mask, w->nz_codes};
	if (rc)
		rc = spz_fail(err, rc, "out of memory packing '%s'", l->weight);
	else if (l->transposed)
		rc = pack_cols(e, l, &src, &lo, s, err);
	else
		rc = pack_rows(e, l, &src, &lo, s, err);
	l->nonzeros = lo.nonzeros;
	l->padding = lo.padding;
	if (s) {
		free(s->last);
		free(s->idx);
		free(s->ends);
		free(s);
	}
	return rc;
}

/*
 * v in 16-bit fixed point at the finest Q format that holds it; returns
 * the fraction bits. Rounding can shrink the extreme (-16384.4 at f bits
 * overflows at f + 1, but its rounded -16384 does not), and the values
 * unpack gives back would then pick f + 1 and pack differently; so when
 * every rounded value fits one bit finer, it moves there (exactly).
 */
static int fixed_vector(int16_t *q, const float *v, size_t n)
{
	int frac = spz_fixed_frac(v, n);
	int any = 0, half = 1;
	for (size_t i = 0; i < n; i++) {
		q[i] = spz_to_fixed(v[i], frac);
		any |= q[i] != 0;
		half &= q[i] >= -16384 && q[i] <= 16383;
	}
	if (any && half && frac < SPZ_FRAC_MAX) {
		frac++;
		for (size_t i = 0; i < n; i++)
			q[i] = (int16_t)(q[i] * 2);
	}
	return frac;
}

/* Whether float-like t holds values in any form: dense data, codes and
 * codebook, or the sparse form (a weight or bias pack can read). */
static int holds_values(const spz_tensor *t)
{
	return t->data || t->codebook || t->mask;
}

/* Every value of float-like tensor t into v, whatever its form (a bias
 * read with spz_input.keep_sparse may come sparse). */
static void tensor_floats(float *v, const spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t);
	if (!t->mask) {
		for (int64_t i = 0; i < n; i++)
			v[i] = spz_tensor_value(t, i);
		return;
	}
	int64_t j = 0;
	for (int64_t w = 0; w * 64 < n; w++) {
		uint64_t m = t->mask[w];
		for (int b = 0; b < 64 && w * 64 + b < n; b++) {
			float x = 0.0f;
			if (m >> b & 1) {
				x = t->codebook ? t->codebook[t->nz_codes[j]]
				                : t->nz[j];
				j++;
			}
			v[w * 64 + b] = x;
		}
	}
}

/* How messages name a node: its name, or its op and output when it has
 * no name. */
static const char *label(const spz_node *n, char *buf, size_t len)
{
	if (n->name[0])
		return n->name;
	snprintf(buf, len, "%s -> %s", n->op,
	         n->n_outputs ? n->outputs[0] : "?");
	return buf;
}

static int is_linear(const spz_node *n)
{
	return !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
}

/* Fills the layer's shape and names from its Gemm/MatMul node. */
static int describe_layer(spz_eie_layer *l, const spz_model *m,
                          const spz_node *n, spz_error *err)
{
	char lb[256];
	const char *nm = label(n, lb, sizeof lb);
	if (n->n_inputs < 2 || n->n_outputs != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': a %s layer needs an input, a weight "
		                "and one output", nm, n->op);
	const spz_tensor *w = spz_model_tensor(m, n->inputs[1]);
	if (!w || w->ndims != 2)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': its weight '%s' must be a 2-D "
		                "initializer", nm, n->inputs[1]);
	if (!w->codebook)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': weight '%s' is not quantized; run "
		                "'spz quantize' first", nm, w->name);
	int gemm = !strcmp(n->op, "Gemm");
	if (gemm && (spz_node_number(n, "transA", 0) != 0 ||
	             spz_node_number(n, "alpha", 1) != 1 ||
	             spz_node_number(n, "beta", 1) != 1))
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': Gemm with transA, alpha or beta "
		                "other than 0, 1, 1 cannot be packed", nm);
	if (!gemm && n->n_inputs != 2)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': MatMul takes exactly 2 inputs",
		                nm);
	l->transposed = !(gemm && spz_node_number(n, "transB", 0) == 1);
	l->rows = w->dims[l->transposed ? 1 : 0];
	l->cols = w->dims[l->transposed ? 0 : 1];
	if (l->rows < 1 || l->cols < 1 || l->rows > INT32_MAX ||
	    l->cols > INT32_MAX)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': weight '%s' of %lldx%lld cannot be "
		                "packed (each dim must be 1..2147483647)", nm,
		                w->name, (long long)w->dims[0],
		                (long long)w->dims[1]);
	l->code_bits = w->bits;
	l->codebook_size = w->codebook_size;
	l->codebook_frac = fixed_vector(l->codebook, w->codebook,
	                                w->codebook_size);
	/* Exporters may leave nodes unnamed: the layer takes its weight's
	 * name, and the image remembers to give the node back unnamed. */
	if (!n->name[0])
		l->anon |= SPZ_EIE_ANON_NODE;
	if (!(l->node = dupstr(n->name[0] ? n->name : w->name)) ||
	    !(l->op = dupstr(n->op)) ||
	    !(l->weight = dupstr(w->name)) ||
	    !(l->input = dupstr(n->inputs[0])) ||
	    !(l->linear_out = dupstr(n->outputs[0])) ||
	    !(l->output = dupstr(n->outputs[0])))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (n->n_inputs >= 3 && n->inputs[2][0]) {
		const spz_tensor *b = spz_model_tensor(m, n->inputs[2]);
		if (!b || !holds_values(b) ||
		    spz_tensor_elements(b) != l->rows)
			return spz_fail(err, SPZ_EUNSUPPORTED,
			                "node '%s': bias '%s' must be a float "
			                "initializer of %lld values", nm,
			                n->inputs[2], (long long)l->rows);
		float *bv = malloc((size_t)l->rows * sizeof *bv + 1);
		l->bias = malloc((size_t)l->rows * sizeof *l->bias + 1);
		l->bias_name = dupstr(b->name);
		if (!bv || !l->bias || !l->bias_name) {
			free(bv);
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		}
		tensor_floats(bv, b);
		l->bias_frac = fixed_vector(l->bias, bv, (size_t)l->rows);
		free(bv);
	}
	return 0;
}

/* A name for an unnamed node: the layer's weight and what the node is. */
static char *anon_name(const char *weight, const char *what)
{
	size_t n = strlen(weight) + strlen(what) + 2;
	char *d = malloc(n);
	if (d)
		snprintf(d, n, "%s/%s", weight, what);
	return d;
}

/*
 * The Add after a MatMul that carries its bias: one input is the MatMul's
 * output, the other a 1-D initializer of rows values. Returns 1 when n is
 * that Add (folded into l), 0 when it is not, or a negative error.
 */
static int fold_add(spz_eie_layer *l, const spz_model *m, const spz_node *n,
                    spz_error *err)
{
	if (strcmp(n->op, "Add") || strcmp(l->op, "MatMul") || l->bias ||
	    l->act != SPZ_ACT_NONE || n->n_inputs != 2 || n->n_outputs != 1)
		return 0;
	int first = !strcmp(n->inputs[1], l->linear_out);
	if (!first && strcmp(n->inputs[0], l->linear_out))
		return 0;
	const char *bname = n->inputs[first ? 0 : 1];
	const spz_tensor *b = spz_model_tensor(m, bname);
	char lb[256];
	if (!b || b->ndims != 1 || b->dims[0] != l->rows ||
	    !holds_values(b))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Add): adds "
		                "'%s' to layer '%s', which is not a 1-D "
		                "initializer of %lld values (a bias)",
		                label(n, lb, sizeof lb), bname, l->node,
		                (long long)l->rows);
	if (!strcmp(b->name, l->weight))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Add): its "
		                "bias is the layer's weight", label(n, lb,
		                sizeof lb));
	float *bv = malloc((size_t)l->rows * sizeof *bv);
	l->bias = malloc((size_t)l->rows * sizeof *l->bias);
	l->bias_name = dupstr(b->name);
	l->add_node = n->name[0] ? dupstr(n->name) : anon_name(l->weight, "Add");
	l->add_out = dupstr(n->outputs[0]);
	free(l->output);
	l->output = dupstr(n->outputs[0]);
	if (!bv || !l->bias || !l->bias_name || !l->add_node || !l->add_out ||
	    !l->output) {
		free(bv);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	tensor_floats(bv, b);
	l->bias_frac = fixed_vector(l->bias, bv, (size_t)l->rows);
	free(bv);
	l->add_bias_first = first;
	if (!n->name[0])
		l->anon |= SPZ_EIE_ANON_ADD;
	return 1;
}

/*
 * A Flatten or Reshape reading the graph input before the first layer,
 * kept when it only makes one sample a vector (EIE's input is a vector):
 * Flatten with axis 0 or 1; Reshape to a constant shape of one or two
 * dims whose first (of two) is 1 or -1. Recorded in pre (the first
 * layer, filled once it is described). 0 or SPZ_EUNSUPPORTED.
 */
static int take_pre(spz_eie_layer *pre, const spz_model *m,
                    const spz_node *n, spz_error *err)
{
	char lb[256];
	const char *nm = label(n, lb, sizeof lb);
	int flat = !strcmp(n->op, "Flatten");
	if (n->n_outputs != 1 || n->n_inputs != (flat ? 1u : 2u))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): takes "
		                "%zu inputs and %zu outputs", nm, n->op,
		                n->n_inputs, n->n_outputs);
	if (flat) {
		double axis = spz_node_number(n, "axis", 1);
		if (axis != 0 && axis != 1)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' "
			                "(Flatten): axis %g splits a sample; only "
			                "axis 0 or 1 (one vector per sample) can be "
			                "packed", nm, axis);
		pre->pre_values[0] = (int64_t)axis;
		pre->n_pre_values = 1;
	} else {
		const spz_tensor *sh = spz_model_tensor(m, n->inputs[1]);
		int64_t k = sh && sh->ndims == 1 ? sh->dims[0] : 0;
		int bad = !sh || sh->dtype != SPZ_DTYPE_INT64 || k < 1 || k > 2;
		for (int64_t d = 0; !bad && d < k; d++)
			bad = spz_tensor_int64(&pre->pre_values[d], sh, d) != 0;
		if (bad)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' "
			                "(Reshape): its shape '%s' must be a "
			                "constant INT64 vector of 1 or 2 values",
			                nm, n->inputs[1]);
		pre->n_pre_values = (int)k;
		int64_t last = pre->pre_values[k - 1];
		if ((k == 2 && pre->pre_values[0] != 1 &&
		     pre->pre_values[0] != -1) || last == 0 || last < -1)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' "
			                "(Reshape): a shape other than [1, N], "
			                "[-1, N], [N] or [-1] does more than flatten "
			                "a sample", nm);
		if (!(pre->pre_shape = dupstr(sh->name)))
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	if (!n->name[0])
		pre->anon |= SPZ_EIE_ANON_PRE;
	if (!(pre->pre_op = dupstr(n->op)) ||
	    !(pre->pre_input = dupstr(n->inputs[0])) ||
	    !(pre->pre_node = dupstr(n->name)))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	return 0;
}

/* The Reshape's shape must agree with the first layer's columns. */
static int check_pre(spz_eie_layer *l, spz_error *err)
{
	int64_t last = l->pre_values[l->n_pre_values - 1];
	if (l->pre_shape && last != -1 && last != l->cols)
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Reshape): "
		                "gives %lld values per sample, layer '%s' takes "
		                "%lld", l->pre_node[0] ? l->pre_node : l->pre_op,
		                (long long)last, l->node, (long long)l->cols);
	if (l->anon & SPZ_EIE_ANON_PRE) {
		free(l->pre_node);
		if (!(l->pre_node = anon_name(l->weight, l->pre_op)))
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	return 0;
}

/* spz_eie_options.fc_only: every fully connected node with a constant
 * weight, wherever it is; the rest left out. */
static int pack_fc_only(spz_eie *e, const spz_model *m, spz_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		const spz_tensor *w = n->n_inputs >= 2 && is_linear(n) ?
		                      spz_model_tensor(m, n->inputs[1]) : NULL;
		spz_eie_layer *prev = e->n_layers ?
		                      &e->layers[e->n_layers - 1] : NULL;
		if (w && w->ndims == 2 && holds_values(w)) {
			spz_eie_layer *l = &e->layers[e->n_layers++];
			rc = describe_layer(l, m, n, err);
			if (!rc)
				rc = pack_layer(e, l, w, err);
		} else if (prev && !strcmp(n->op, "Add") && n->n_inputs == 2) {
			/* A bias Add right after its MatMul; any other Add is
			 * just left out. */
			const spz_tensor *b = spz_model_tensor(m,
				n->inputs[!strcmp(n->inputs[0], prev->linear_out)]);
			int f = b && b->ndims == 1 && b->dims[0] == prev->rows &&
			        holds_values(b) ?
			        fold_add(prev, m, n, err) : 0;
			rc = f < 0 ? f : 0;
		}
	}
	if (!rc && !e->n_layers)
		rc = spz_fail(err, SPZ_EUNSUPPORTED,
		              "the model has no Gemm or MatMul layer with a "
		              "constant weight");
	return rc;
}

int spz_eie_pack(spz_eie **out, const spz_model *m,
                 const spz_eie_options *opts, spz_error *err)
{
	if (opts->pes < SPZ_EIE_PES_MIN || opts->pes > SPZ_EIE_PES_MAX)
		return spz_fail(err, SPZ_EINVAL, "PE count %u is outside "
		                "%d..%d", opts->pes, SPZ_EIE_PES_MIN,
		                SPZ_EIE_PES_MAX);
	if (opts->index_bits < SPZ_EIE_INDEX_BITS_MIN ||
	    opts->index_bits > SPZ_EIE_INDEX_BITS_MAX)
		return spz_fail(err, SPZ_EINVAL, "index bits %d are outside "
		                "%d..%d", opts->index_bits,
		                SPZ_EIE_INDEX_BITS_MIN, SPZ_EIE_INDEX_BITS_MAX);
	if (m->n_inputs != 1 || m->n_outputs != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "the model must have one input and one output "
		                "to be packed (it has %zu and %zu)", m->n_inputs,
		                m->n_outputs);
	spz_eie *e = calloc(1, sizeof *e);
	if (!e || !(e->name = dupstr(m->name)) ||
	    !(e->layers = calloc(m->n_nodes ? m->n_nodes : 1,
	                         sizeof *e->layers))) {
		spz_eie_free(e);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	e->pes = opts->pes;
	e->index_bits = opts->index_bits;
	if (opts->fc_only) {
		int rc = pack_fc_only(e, m, err);
		if (rc) {
			spz_eie_free(e);
			return rc;
		}
		*out = e;
		return 0;
	}
	const char *cur = m->inputs[0];
	int rc = 0;
	spz_eie_layer pre = {0};
	/* Progress by weights packed, layer by layer. */
	double total = 0, done = 0;
	for (size_t i = 0; opts->progress && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		const spz_tensor *w = is_linear(n) && n->n_inputs >= 2 ?
			spz_model_tensor(m, n->inputs[1]) : NULL;
		total += w ? (double)spz_tensor_elements(w) : 0;
	}
	for (size_t i = 0; !rc && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		spz_eie_layer *prev = e->n_layers ? &e->layers[e->n_layers - 1]
		                                  : NULL;
		char lb[256];
		const char *nm = label(n, lb, sizeof lb);
		int f = prev ? fold_add(prev, m, n, err) : 0;
		if (f < 0) {
			rc = f;
		} else if (f) {
			cur = prev->output;
		} else if (n->n_inputs < 1 || strcmp(n->inputs[0], cur)) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "node '%s' does not take the previous "
			              "layer's output '%s': spz pack needs a chain "
			              "of fully connected layers", nm, cur);
		} else if (!prev && !pre.pre_op && (!strcmp(n->op, "Flatten") ||
		                                    !strcmp(n->op, "Reshape"))) {
			rc = take_pre(&pre, m, n, err);
			cur = n->outputs[0];
		} else if (is_linear(n)) {
			spz_eie_layer *l = &e->layers[e->n_layers++];
			if (!prev) {
				/* The Flatten/Reshape before it, if any. */
				*l = pre;
				memset(&pre, 0, sizeof pre);
			}
			rc = describe_layer(l, m, n, err);
			if (!rc && l->pre_op)
				rc = check_pre(l, err);
			const spz_tensor *w = rc ? NULL
			                         : spz_model_tensor(m, n->inputs[1]);
			if (!rc)
				rc = pack_layer(e, l, w, err);
			if (!rc && opts->progress && total > 0) {
				done += (double)spz_tensor_elements(w);
				opts->progress(opts->progress_ctx,
				               done < total ? done : total, total);
			}
			cur = n->outputs[0];
		} else if (!strcmp(n->op, "Relu") && prev &&
		           prev->act == SPZ_ACT_NONE && n->n_outputs == 1) {
			prev->act = SPZ_ACT_RELU;
			free(prev->output);
			if (!n->name[0])
				prev->anon |= SPZ_EIE_ANON_ACT;
			if (!(prev->act_node = n->name[0] ? dupstr(n->name) :
			                       anon_name(prev->weight, "Relu")) ||
			    !(prev->output = dupstr(n->outputs[0])))
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			cur = n->outputs[0];
		} else {
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "node '%s' (%s) is not a fully connected "
			              "layer: EIE runs Gemm/MatMul layers (a MatMul "
			              "with its bias Add), each optionally followed "
			              "by Relu, after an optional Flatten (--format "
			              "csr, csc or nm packs any graph)", nm, n->op);
		}
	}
	free_layer(&pre, 0);
	if (!rc && !e->n_layers)
		rc = spz_fail(err, SPZ_EUNSUPPORTED,
		              "the model has no Gemm or MatMul layer to pack");
	if (!rc && strcmp(cur, m->outputs[0]))
		rc = spz_fail(err, SPZ_EUNSUPPORTED,
		              "the graph output '%s' is not the last layer's "
		              "output '%s'", m->outputs[0], cur);
	for (size_t i = 1; !rc && i < e->n_layers; i++)
		if (e->layers[i].cols != e->layers[i - 1].rows)
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "layer '%s' takes %lld inputs but '%s' gives "
			              "%lld", e->layers[i].node,
			              (long long)e->layers[i].cols,
			              e->layers[i - 1].node,
			              (long long)e->layers[i - 1].rows);
	if (rc) {
		spz_eie_free(e);
		return rc;
	}
	*out = e;
	return 0;
}
