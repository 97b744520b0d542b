/*
 * report.c - spz report: the cost of a model (through the EIE image it
 * would pack to) or of an image: storage by part and in other formats,
 * operations, analytical cycles, SRAM fit and energy, as a text table,
 * JSON, CSV or Markdown, with PNG figures and CI budgets (exit 3).
 * lib/report.c computes; this file only reads, formats and writes.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "report_arch.h"
#include "report_other.h"

enum form { FORM_TEXT, FORM_JSON, FORM_CSV, FORM_MARKDOWN };

/* What the report is about, beyond the spz_report itself. */
struct ctx {
	const char *input;
	const char *kind;        /* "model" or "eie" */
	const spz_model *model;  /* NULL for an image */
	const spz_eie *eie;
	const spz_report *rep;
	const spz_report_options *opts;
	const char *activity;    /* --activity FILE or NULL */
	int what_if_bits;        /* code bits assumed, 0 when none was */
	int *quantized;          /* per layer: the weight was quantized */
	const struct arch_ctx *arch; /* --arch comparison, Huffman sizes */
	const struct other_ctx *other; /* nodes EIE does not run */
};

/* ------------------------------------------------------------------ */
/* Columns: one list serves the text tables, CSV and Markdown.         */

enum col {
	C_NAME, C_ROWS, C_COLS, C_NONZEROS, C_DENSITY, C_PADDING,
	C_B_ENTRIES, C_B_PADDING, C_B_POINTERS, C_B_CODEBOOK, C_B_BIAS,
	C_B_HEADER, C_B_TOTAL, C_BYTES, C_DENSE_BITS, C_RATIO,
	C_F_EIE, C_F_CSR, C_F_CSC, C_F_COO, C_F_BITMASK, C_F_NM_PATTERN,
	C_F_NM, C_F_CBONLY, C_F_CBRATE, C_F_HUFF, C_F_HUFF_RATE, C_F_DENSE, C_F_BEST,
	C_ACT, C_MACS_D, C_MACS_S, C_MACS_E, C_CYC_T, C_CYC_E, C_LB, C_TIME,
	C_PERSEC, C_PE_MIN, C_PE_MEAN, C_PE_MAX, C_SRAM_M, C_SRAM_P, C_FITS,
	C_E_MATRIX, C_E_PTR, C_E_MULT, C_E_ACC, C_E_BIAS, C_E_TOTAL,
	C_E_DDRAM, C_E_DCOMP, C_E_DTOTAL, C_E_RATIO, C_COUNT
};

static const struct {
	const char *key;   /* CSV / Markdown header */
	const char *head;  /* text header, with its unit */
	int group;         /* text table it belongs to (1..5) */
} cols[C_COUNT] = {
	[C_NAME] = {"name", "layer", 0},
	[C_ROWS] = {"rows", "rows", 1},
	[C_COLS] = {"cols", "cols", 1},
	[C_NONZEROS] = {"nonzeros", "nonzeros", 1},
	[C_DENSITY] = {"density", "density", 1},
	[C_PADDING] = {"padding", "padding", 1},
	[C_B_ENTRIES] = {"bits_entries", "entries [bit]", 1},
	[C_B_PADDING] = {"bits_padding", "padding [bit]", 1},
	[C_B_POINTERS] = {"bits_pointers", "pointers [bit]", 1},
	[C_B_CODEBOOK] = {"bits_codebook", "codebook [bit]", 1},
	[C_B_BIAS] = {"bits_bias", "bias [bit]", 1},
	[C_B_HEADER] = {"bits_header", "header [bit]", 1},
	[C_B_TOTAL] = {"bits_total", "total [bit]", 1},
	[C_BYTES] = {"bytes", "total [B]", 1},
	[C_DENSE_BITS] = {"dense_bits", "dense fp32 [bit]", 1},
	[C_RATIO] = {"compression_ratio", "ratio [x]", 1},
	[C_F_EIE] = {"eie_bits", "eie [bit]", 2},
	[C_F_CSR] = {"csr_bits", "csr [bit]", 2},
	[C_F_CSC] = {"csc_bits", "csc [bit]", 2},
	[C_F_COO] = {"coo_bits", "coo [bit]", 2},
	[C_F_BITMASK] = {"bitmask_bits", "bitmask [bit]", 2},
	[C_F_NM_PATTERN] = {"nm_pattern", "n:m", 2},
	[C_F_NM] = {"nm_bits", "n:m [bit]", 2},
	[C_F_CBONLY] = {"codebook_only_bits", "codebook-only [bit]", 2},
	[C_F_CBRATE] = {"codebook_only_rate", "dc rate [x]", 2},
	[C_F_HUFF] = {"dc_huffman_bits", "dc+huffman [bit]", 2},
	[C_F_HUFF_RATE] = {"dc_huffman_rate", "dc+huff rate [x]", 2},
	[C_F_DENSE] = {"dense_weight_bits", "dense [bit]", 2},
	[C_F_BEST] = {"best_format", "smallest", 2},
	[C_ACT] = {"act_density", "act density", 3},
	[C_MACS_D] = {"macs_dense", "MACs dense", 3},
	[C_MACS_S] = {"macs_sparse", "MACs sparse W", 3},
	[C_MACS_E] = {"macs_effective", "MACs sparse W+act", 3},
	[C_CYC_T] = {"cycles_theoretical", "theoretical [cycle]", 3},
	[C_CYC_E] = {"cycles_estimate", "estimate [cycle]", 3},
	[C_LB] = {"load_balance", "balance [%]", 3},
	[C_TIME] = {"time_us", "time [us]", 3},
	[C_PERSEC] = {"per_second", "per second [1/s]", 3},
	[C_PE_MIN] = {"pe_entries_min", "entries/PE min", 4},
	[C_PE_MEAN] = {"pe_entries_mean", "entries/PE mean", 4},
	[C_PE_MAX] = {"pe_entries_max", "entries/PE max", 4},
	[C_SRAM_M] = {"sram_matrix_bytes", "matrix SRAM/PE [B]", 4},
	[C_SRAM_P] = {"sram_pointer_bytes", "pointer SRAM/PE [B]", 4},
	[C_FITS] = {"sram_fits", "fits", 4},
	[C_E_MATRIX] = {"energy_matrix_sram_pj", "matrix SRAM [pJ]", 5},
	[C_E_PTR] = {"energy_pointer_sram_pj", "pointer SRAM [pJ]", 5},
	[C_E_MULT] = {"energy_multiply_pj", "mult [pJ]", 5},
	[C_E_ACC] = {"energy_accumulate_pj", "add [pJ]", 5},
	[C_E_BIAS] = {"energy_bias_pj", "bias [pJ]", 5},
	[C_E_TOTAL] = {"energy_pj", "EIE [pJ]", 5},
	[C_E_DDRAM] = {"dense_dram_pj", "dense DRAM [pJ]", 5},
	[C_E_DCOMP] = {"dense_compute_pj", "dense ops [pJ]", 5},
	[C_E_DTOTAL] = {"dense_energy_pj", "dense [pJ]", 5},
	[C_E_RATIO] = {"energy_ratio", "ratio [x]", 5},
};

static const char *group_title[] = {
	NULL,
	"storage of the image by part, bits (dense fp32 = weights and bias)",
	"the weights in other formats at the same code width, bits (bias "
	"excluded)",
	"operations and cycles (analytical estimate; spz run emulates)",
	"entries and on-chip SRAM per PE",
	"energy per inference, pJ: EIE on chip vs the dense fp32 model from "
	"DRAM",
};

static double pe_stat(const spz_report_layer *r, uint32_t pes, int which)
{
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	for (uint32_t k = 0; k < pes; k++) {
		uint64_t v = r->pe_entries[k];
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		sum += v;
	}
	return which < 0 ? (double)lo : which > 0 ? (double)hi
	                                          : (double)sum / pes;
}

/* Text of a number: exact for CSV/Markdown, rounded for the text table. */
static void dbl(char *b, size_t n, double v, int exact, int decimals)
{
	if (exact && v == floor(v) && fabs(v) < 1e15)
		snprintf(b, n, "%.0f", v);
	else if (exact)
		spz_format_double(b, v);
	else
		snprintf(b, n, "%.*f", decimals, v);
}

static void cell(char *b, size_t n, enum col c, const spz_report_layer *r,
                 const struct ctx *x, int exact)
{
	const spz_report_formats *f = &r->formats;
	const spz_report_energy *e = &r->energy;
	int total = r == &x->rep->total;
	uint64_t elements = total ? r->macs_dense : (uint64_t)r->rows *
	                                            (uint64_t)r->cols;
	uint64_t u = 0;
	double d = 0;
	int dec = -1; /* >= 0: a double with that many decimals in text */
	switch (c) {
	case C_NAME: snprintf(b, n, "%s", r->name); return;
	case C_ROWS:
	case C_COLS:
		if (total)
			snprintf(b, n, "%s", exact ? "" : "-");
		else
			snprintf(b, n, "%lld", (long long)(c == C_ROWS ? r->rows
			                                             : r->cols));
		return;
	case C_NONZEROS: u = r->nonzeros; break;
	case C_DENSITY:
		d = elements ? (double)r->nonzeros / (double)elements : 0;
		dec = 4;
		break;
	case C_PADDING: u = r->padding; break;
	case C_B_ENTRIES: u = r->bits.entries; break;
	case C_B_PADDING: u = r->bits.padding; break;
	case C_B_POINTERS: u = r->bits.pointers; break;
	case C_B_CODEBOOK: u = r->bits.codebook; break;
	case C_B_BIAS: u = r->bits.bias; break;
	case C_B_HEADER: u = r->bits.header; break;
	case C_B_TOTAL: u = r->bits.total; break;
	case C_BYTES: u = (r->bits.total + 7) / 8; break;
	case C_DENSE_BITS: u = r->dense_bits; break;
	case C_RATIO: d = r->compression_ratio; dec = 2; break;
	case C_F_EIE: u = f->eie; break;
	case C_F_CSR: u = f->csr; break;
	case C_F_CSC: u = f->csc; break;
	case C_F_COO: u = f->coo; break;
	case C_F_BITMASK: u = f->bitmask; break;
	case C_F_NM_PATTERN:
		if (f->nm_n)
			snprintf(b, n, "%d:%d", f->nm_n, f->nm_m);
		else
			snprintf(b, n, "%s", exact ? "" : "-");
		return;
	case C_F_NM:
		if (!f->nm_n) {
			snprintf(b, n, "%s", exact ? "" : "-");
			return;
		}
		u = f->nm;
		break;
	case C_F_CBONLY: u = f->codebook_only; break;
	case C_F_CBRATE: d = f->codebook_only_rate; dec = 2; break;
	case C_F_HUFF:
		u = x->arch->dch_bits[total ? x->rep->n_layers
		                            : (size_t)(r - x->rep->layers)];
		break;
	case C_F_HUFF_RATE:
		d = x->arch->dch_rate[total ? x->rep->n_layers
		                            : (size_t)(r - x->rep->layers)];
		dec = 2;
		break;
	case C_F_DENSE: u = f->dense; break;
	case C_F_BEST: snprintf(b, n, "%s", f->best); return;
	case C_ACT: d = r->act_density; dec = 3; break;
	case C_MACS_D: u = r->macs_dense; break;
	case C_MACS_S: u = r->macs_sparse; break;
	case C_MACS_E: d = r->macs_effective; dec = 0; break;
	case C_CYC_T: d = r->cycles_theoretical; dec = 1; break;
	case C_CYC_E: d = r->cycles_estimate; dec = 0; break;
	case C_LB:
		d = exact ? r->load_balance : 100 * r->load_balance;
		dec = 1;
		break;
	case C_TIME: d = r->time_us; dec = 3; break;
	case C_PERSEC: d = r->per_second; dec = 0; break;
	case C_PE_MIN: d = pe_stat(r, x->rep->pes, -1); dec = 0; break;
	case C_PE_MEAN: d = pe_stat(r, x->rep->pes, 0); dec = 1; break;
	case C_PE_MAX: d = pe_stat(r, x->rep->pes, 1); dec = 0; break;
	case C_SRAM_M: u = r->sram_matrix_bytes; break;
	case C_SRAM_P: u = r->sram_pointer_bytes; break;
	case C_FITS:
		snprintf(b, n, "%s", r->sram_fits ? "yes" : "no");
		return;
	case C_E_MATRIX: d = e->matrix_sram; dec = 1; break;
	case C_E_PTR: d = e->pointer_sram; dec = 1; break;
	case C_E_MULT: d = e->multiply; dec = 1; break;
	case C_E_ACC: d = e->accumulate; dec = 1; break;
	case C_E_BIAS: d = e->bias; dec = 1; break;
	case C_E_TOTAL: d = e->total; dec = 1; break;
	case C_E_DDRAM: d = e->dense_dram; dec = 0; break;
	case C_E_DCOMP: d = e->dense_compute; dec = 0; break;
	case C_E_DTOTAL: d = e->dense_total; dec = 0; break;
	case C_E_RATIO: d = r->energy_ratio; dec = 1; break;
	case C_COUNT: break;
	}
	if (dec >= 0)
		dbl(b, n, d, exact, dec);
	else
		snprintf(b, n, "%llu", (unsigned long long)u);
}

#define CELL 64

/* The rows of a table: every layer, then the total. */
static const spz_report_layer *row_at(const struct ctx *x, size_t i)
{
	return i < x->rep->n_layers ? &x->rep->layers[i] : &x->rep->total;
}

/* One text table. Without --wide it fits 80 columns: the layer column
 * is cut at 24 and, when the columns still do not fit, they are split
 * into several tables that each repeat the layer column. */
static void print_group(FILE *f, const struct ctx *x, int group)
{
	enum col sel[C_COUNT];
	size_t nc = 0, nr = x->rep->n_layers + 1;
	for (int c = 0; c < C_COUNT; c++)
		if (cols[c].group == 0 || cols[c].group == group)
			sel[nc++] = (enum col)c;
	size_t w[C_COUNT];
	char b[CELL];
	for (size_t c = 0; c < nc; c++) {
		w[c] = cli_width(cols[sel[c]].head);
		for (size_t i = 0; i < nr; i++) {
			cell(b, sizeof b, sel[c], row_at(x, i), x, 0);
			w[c] = cli_width(b) > w[c] ? cli_width(b) : w[c];
		}
	}
	int wide = cli_opts.wide;
	if (!wide && w[0] > 24)
		w[0] = 24;
	fprintf(f, "\n");
	if (wide)
		fprintf(f, "%s\n", group_title[group]);
	else
		cli_print_wrapped(f, group_title[group], 0, 0);
	for (size_t from = 1; from < nc;) {
		size_t to = from, width = w[0];
		while (to < nc && (wide || to == from ||
		                   width + 2 + w[to] <= 80))
			width += 2 + w[to++];
		if (from > 1)
			fputc('\n', f);
		cli_pad(f, cols[sel[0]].head, w[0], 1);
		for (size_t c = from; c < to; c++) {
			fputs("  ", f);
			cli_pad(f, cols[sel[c]].head, w[c], 0);
		}
		fputc('\n', f);
		for (size_t i = 0; i < nr; i++) {
			cell(b, sizeof b, sel[0], row_at(x, i), x, 0);
			if (wide)
				cli_pad(f, b, w[0], 1);
			else
				cli_pad_cut(f, b, w[0]);
			for (size_t c = from; c < to; c++) {
				cell(b, sizeof b, sel[c], row_at(x, i), x, 0);
				fputs("  ", f);
				cli_pad(f, b, w[c], 0);
			}
			fputc('\n', f);
		}
		from = to;
	}
}

/* A number given on the command line as its user wrote it: the fewest
 * decimals that read back exactly, never an exponent (200, not 2e+02). */
static char *plain_number(char *b, size_t n, double v)
{
	for (int dec = 0; dec <= 17; dec++) {
		snprintf(b, n, "%.*f", dec, v);
		if (strtod(b, NULL) == v)
			break;
	}
	return b;
}

/* A measured number as people write it: 3 significant digits (no
 * exponent), more only when needed to tell it from other, the bound it
 * is compared with (15.9 vs 200; 199.96 vs 200 stays 199.96). */
static char *human(char *b, size_t n, double v, double other)
{
	for (int d = 0; d <= 9; d++) {
		int dec = d;
		double a = fabs(v);
		if (a >= 100 || a == 0)
			dec = d;
		else if (a >= 10)
			dec = d + 1;
		else
			dec = d + 2;
		snprintf(b, n, "%.*f", dec, v);
		char o[64];
		snprintf(o, sizeof o, "%.*f", dec, other);
		if (strcmp(b, o) || v == other) {
			/* No trailing zeros after the point. */
			if (strchr(b, '.')) {
				size_t l = strlen(b);
				while (b[l - 1] == '0')
					b[--l] = 0;
				if (b[l - 1] == '.')
					b[--l] = 0;
			}
			return b;
		}
	}
	return b;
}

/* ------------------------------------------------------------------ */
/* Budgets                                                              */

struct budgets {
	int has_bytes, has_cycles, has_ratio;
	uint64_t max_bytes, max_cycles;
	double min_ratio;
};

/* Writes the failed budgets, "; "-separated, into msg; returns how many. */
static int check_budgets(char *msg, size_t n, const struct budgets *bu,
                         const spz_report_layer *t)
{
	int failed = 0;
	size_t len = 0;
	msg[0] = 0;
	uint64_t bytes = (t->bits.total + 7) / 8;
	char b1[32], b2[32];
	if (bu->has_bytes && bytes > bu->max_bytes && len < n)
		len += (size_t)snprintf(msg + len, n - len, "%s%llu bytes > "
		                        "--max-bytes %llu", failed++ ? "; " : "",
		                        (unsigned long long)bytes,
		                        (unsigned long long)bu->max_bytes);
	if (bu->has_cycles && t->cycles_estimate > (double)bu->max_cycles &&
	    len < n)
		len += (size_t)snprintf(msg + len, n - len, "%s%.0f cycles > "
		                        "--max-cycles %llu", failed++ ? "; " : "",
		                        t->cycles_estimate,
		                        (unsigned long long)bu->max_cycles);
	if (bu->has_ratio && t->compression_ratio < bu->min_ratio && len < n)
		snprintf(msg + len, n - len, "%scompression %sx < "
		         "--min-compression %sx", failed++ ? "; " : "",
		         human(b1, sizeof b1, t->compression_ratio,
		               bu->min_ratio),
		         plain_number(b2, sizeof b2, bu->min_ratio));
	return failed;
}

/* ------------------------------------------------------------------ */
/* Text, CSV, Markdown                                                  */

/* The one-line summary that ends the text report. */
static void print_summary(FILE *f, const spz_report *r)
{
	const spz_report_layer *t = &r->total;
	char sz[32], cr[32], cy[32], en[32];
	double bytes = (double)((t->bits.total + 7) / 8);
	if (bytes >= 1e6)
		snprintf(sz, sizeof sz, "%.2f MB", bytes / 1e6);
	else if (bytes >= 1e3)
		snprintf(sz, sizeof sz, "%.1f kB", bytes / 1e3);
	else
		snprintf(sz, sizeof sz, "%.0f B", bytes);
	human(cr, sizeof cr, t->compression_ratio, 0);
	snprintf(cy, sizeof cy, "%.0f", t->cycles_estimate);
	if (t->energy.total >= 1e6)
		snprintf(en, sizeof en, "%.2f uJ", t->energy.total / 1e6);
	else if (t->energy.total >= 1e3)
		snprintf(en, sizeof en, "%.2f nJ", t->energy.total / 1e3);
	else
		snprintf(en, sizeof en, "%.1f pJ", t->energy.total);
	fprintf(f, "\ntotal: %s, %sx compression, %s cycles, %s, %s\n", sz,
	        cr, cy, en, t->sram_fits ? "fits in SRAM"
	                                 : "does not fit in SRAM");
}

static void print_text(FILE *f, const struct ctx *x, const struct budgets *bu)
{
	const spz_report *r = x->rep;
	const char *what = !strcmp(x->kind, "eie") ? "EIE image"
	                 : !strcmp(x->kind, "eie-huffman")
	                 ? "EIE image (Huffman-coded)"
	                 : !strcmp(x->kind, "model") ? "model"
	                 : "image's model";
	const char *name = x->eie->name ? x->eie->name : "";
	static const char fmt[] = "spz report of '%s': %s '%s', %zu layer%s, "
	                          "%u PEs, %d-bit relative index, clock %g MHz";
	int len = snprintf(NULL, 0, fmt, x->input, what, name, r->n_layers,
	                   r->n_layers == 1 ? "" : "s", r->pes, r->index_bits,
	                   r->clock_mhz);
	char *head = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (head) {
		snprintf(head, (size_t)len + 1, fmt, x->input, what, name,
		         r->n_layers, r->n_layers == 1 ? "" : "s", r->pes,
		         r->index_bits, r->clock_mhz);
		if (cli_opts.wide)
			fprintf(f, "%s\n", head);
		else
			cli_print_wrapped(f, head, 0, 2);
		free(head);
	}
	if (x->what_if_bits)
		fprintf(f, "what-if: weights that are not quantized are taken "
		        "as %d-bit codes\n", x->what_if_bits);
	if (x->activity)
		fprintf(f, "input activation densities from '%s'\n",
		        x->activity);
	for (int g = 1; g <= 5; g++)
		print_group(f, x, g);
	other_text(f, x->other, 0);
	arch_text(f, x->arch, 0);
	fprintf(f, "\nSRAM capacity per PE: %llu B sparse matrix, %llu B "
	        "pointers\n", (unsigned long long)r->sram_matrix_capacity,
	        (unsigned long long)r->sram_pointer_capacity);
	char msg[512];
	if ((bu->has_bytes || bu->has_cycles || bu->has_ratio))
		fprintf(f, "budgets: %s\n", check_budgets(msg, sizeof msg, bu,
		        &r->total) ? msg : "all met");
	print_summary(f, r);
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* A node EIE does not run, in the report's columns: its name, non-zeros,
 * bytes and MACs as in the text's "not EIE" table, the rest empty. */
static void other_csv(FILE *f, const struct ctx *x,
                      const struct other_node *v)
{
	for (int c = 0; c < C_COUNT; c++) {
		if (c)
			fputc(',', f);
		if (c == C_NAME)
			csv_field(f, v->name);
		else if (c == C_NONZEROS)
			fprintf(f, "%llu", (unsigned long long)v->nonzeros);
		else if (c == C_BYTES)
			fprintf(f, "%llu",
			        (unsigned long long)((v->storage_bits + 7) / 8));
		else if ((c == C_MACS_D || c == C_MACS_S) && v->macs_known)
			fprintf(f, "%llu", (unsigned long long)(c == C_MACS_D ?
			        v->macs_dense : v->macs_sparse));
	}
	arch_csv_conv_row(f, x->arch, v->name);
	fputs(",no,", f);
	csv_field(f, v->op);
	other_csv_node(f, v);
	fputc('\n', f);
}

static void print_csv(FILE *f, const struct ctx *x)
{
	char b[CELL];
	for (int c = 0; c < C_COUNT; c++)
		fprintf(f, "%s%s", c ? "," : "", cols[c].key);
	arch_csv_head(f, x->arch);
	other_csv_head(f);
	fputc('\n', f);
	size_t n = x->rep->n_layers;
	for (size_t i = 0; i <= n; i++) {
		/* The nodes EIE does not run come before the total, so that the
		 * total stays last; it sums the EIE layers (and, in the design
		 * columns, every compared layer, conv included). */
		if (i == n)
			for (size_t k = 0; x->other && k < x->other->n; k++)
				other_csv(f, x, &x->other->v[k]);
		for (int c = 0; c < C_COUNT; c++) {
			cell(b, sizeof b, (enum col)c, row_at(x, i), x, 1);
			if (c)
				fputc(',', f);
			csv_field(f, b);
		}
		arch_csv_row(f, x->arch, i);
		if (i < n) {
			fputs(",yes,", f);
			csv_field(f, x->eie->layers[i].op);
			other_csv_layer(f, (uint64_t)x->rep->layers[i].rows *
			                   (uint64_t)x->rep->layers[i].cols);
		} else {
			fputs(",,", f);
			other_csv_total(f);
		}
		fputc('\n', f);
	}
}

static void md_field(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s, f);
	}
}

/* The text tables as Markdown: one table per group, the total in bold. */
static void print_markdown(FILE *f, const struct ctx *x)
{
	char b[CELL];
	for (int g = 1; g <= 5; g++) {
		fprintf(f, "%s**%s**\n\n|", g > 1 ? "\n" : "", group_title[g]);
		for (int c = 0; c < C_COUNT; c++)
			if (cols[c].group == 0 || cols[c].group == g) {
				fputc(' ', f);
				md_field(f, cols[c].head);
				fputs(" |", f);
			}
		fputs("\n|", f);
		for (int c = 0; c < C_COUNT; c++)
			if (cols[c].group == 0 || cols[c].group == g)
				fputs(c == C_NAME || c == C_F_BEST ||
				      c == C_FITS || c == C_F_NM_PATTERN
				      ? " --- |" : " ---: |", f);
		fputc('\n', f);
		for (size_t i = 0; i <= x->rep->n_layers; i++) {
			int total = i == x->rep->n_layers;
			fputs("|", f);
			for (int c = 0; c < C_COUNT; c++) {
				if (cols[c].group && cols[c].group != g)
					continue;
				cell(b, sizeof b, (enum col)c, row_at(x, i), x, 0);
				fputs(total ? " **" : " ", f);
				md_field(f, b);
				fputs(total ? "** |" : " |", f);
			}
			fputc('\n', f);
		}
	}
	other_text(f, x->other, 1);
	arch_text(f, x->arch, 1);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

static cJSON *u64_array(const uint64_t *v, uint32_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (uint32_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
	return a;
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
	cJSON_AddNumberToObject(o, k, (double)v);
}

static cJSON *formats_json(const spz_report_formats *f)
{
	cJSON *o = cJSON_CreateObject(), *s;
	s = cJSON_AddObjectToObject(o, "eie");
	add_u64(s, "bits", f->eie);
	s = cJSON_AddObjectToObject(o, "csr");
	add_u64(s, "bits", f->csr);
	add_u64(s, "words", f->csr_words);
	s = cJSON_AddObjectToObject(o, "csc");
	add_u64(s, "bits", f->csc);
	add_u64(s, "words", f->csc_words);
	s = cJSON_AddObjectToObject(o, "coo");
	add_u64(s, "bits", f->coo);
	add_u64(s, "words", f->coo_words);
	s = cJSON_AddObjectToObject(o, "bitmask");
	add_u64(s, "bits", f->bitmask);
	if (f->nm_n) {
		s = cJSON_AddObjectToObject(o, "nm");
		cJSON_AddNumberToObject(s, "n", f->nm_n);
		cJSON_AddNumberToObject(s, "m", f->nm_m);
		add_u64(s, "bits", f->nm);
	} else {
		cJSON_AddNullToObject(o, "nm");
	}
	s = cJSON_AddObjectToObject(o, "codebook_only");
	add_u64(s, "bits", f->codebook_only);
	cJSON_AddNumberToObject(s, "rate", f->codebook_only_rate);
	s = cJSON_AddObjectToObject(o, "dense");
	add_u64(s, "bits", f->dense);
	add_u64(s, "words", f->dense_words);
	return o;
}

static cJSON *layer_json(const spz_report_layer *r, const struct ctx *x,
                         size_t li)
{
	int total = r == &x->rep->total;
	uint32_t pes = x->rep->pes;
	cJSON *o = cJSON_CreateObject(), *s;
	if (!total) {
		const spz_eie_layer *l = &x->eie->layers[li];
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "weight", l->weight);
		add_u64(o, "rows", (uint64_t)r->rows);
		add_u64(o, "cols", (uint64_t)r->cols);
		cJSON_AddBoolToObject(o, "quantized", x->quantized[li]);
		cJSON_AddNumberToObject(o, "code_bits", r->code_bits);
		add_u64(o, "codebook_size", r->codebook_size);
		cJSON_AddNumberToObject(o, "index_bits", r->index_bits);
		cJSON_AddNumberToObject(o, "entry_bits", r->entry_bits);
		cJSON_AddNumberToObject(o, "pointer_bits", r->pointer_bits);
	}
	add_u64(o, "nonzeros", r->nonzeros);
	add_u64(o, "padding", r->padding);
	cJSON_AddNumberToObject(o, "density", r->macs_dense
		? (double)r->nonzeros / (double)r->macs_dense : 0);
	s = cJSON_AddObjectToObject(o, "bits");
	add_u64(s, "entries", r->bits.entries);
	add_u64(s, "padding", r->bits.padding);
	add_u64(s, "pointers", r->bits.pointers);
	add_u64(s, "codebook", r->bits.codebook);
	add_u64(s, "bias", r->bits.bias);
	add_u64(s, "header", r->bits.header);
	add_u64(s, "total", r->bits.total);
	add_u64(o, "bytes", (r->bits.total + 7) / 8);
	add_u64(o, "dense_bits", r->dense_bits);
	cJSON_AddNumberToObject(o, "compression_ratio", r->compression_ratio);
	cJSON *fo = formats_json(&r->formats);
	cJSON_AddItemToObject(o, "formats", fo);
	cJSON_AddStringToObject(o, "best_format", r->formats.best);
	cJSON_AddBoolToObject(o, "csr_beats_dense", r->formats.csr_beats_dense);
	cJSON_AddBoolToObject(o, "csr_beats_coo", r->formats.csr_beats_coo);
	cJSON_AddNumberToObject(o, "act_density", r->act_density);
	add_u64(o, "macs_dense", r->macs_dense);
	add_u64(o, "macs_sparse", r->macs_sparse);
	cJSON_AddNumberToObject(o, "macs_effective", r->macs_effective);
	cJSON_AddItemToObject(o, "pe_entries", u64_array(r->pe_entries, pes));
	cJSON_AddItemToObject(o, "pe_padding", u64_array(r->pe_padding, pes));
	cJSON *cyc = total ? NULL : cJSON_AddArrayToObject(o, "pe_cycles");
	for (uint32_t k = 0; cyc && k < pes; k++)
		cJSON_AddItemToArray(cyc, cJSON_CreateNumber(
			r->act_density * (double)r->pe_work[k]));
	s = cJSON_AddObjectToObject(o, "entries_per_pe");
	cJSON_AddNumberToObject(s, "min", pe_stat(r, pes, -1));
	cJSON_AddNumberToObject(s, "mean", pe_stat(r, pes, 0));
	cJSON_AddNumberToObject(s, "max", pe_stat(r, pes, 1));
	cJSON_AddNumberToObject(o, "cycles_theoretical", r->cycles_theoretical);
	cJSON_AddNumberToObject(o, "cycles_estimate", r->cycles_estimate);
	cJSON_AddNumberToObject(o, "load_balance", r->load_balance);
	cJSON_AddNumberToObject(o, "time_us", r->time_us);
	cJSON_AddNumberToObject(o, total ? "inferences_per_second"
	                                 : "layers_per_second", r->per_second);
	s = cJSON_AddObjectToObject(o, "sram");
	add_u64(s, "matrix_bytes", r->sram_matrix_bytes);
	add_u64(s, "pointer_bytes", r->sram_pointer_bytes);
	cJSON_AddBoolToObject(s, "fits", r->sram_fits);
	cJSON_AddNumberToObject(o, "energy_pj", r->energy.total);
	cJSON_AddNumberToObject(o, "dense_energy_pj", r->energy.dense_total);
	cJSON_AddNumberToObject(o, "energy_ratio", r->energy_ratio);
	s = cJSON_AddObjectToObject(o, "energy_breakdown_pj");
	cJSON_AddNumberToObject(s, "matrix_sram", r->energy.matrix_sram);
	cJSON_AddNumberToObject(s, "pointer_sram", r->energy.pointer_sram);
	cJSON_AddNumberToObject(s, "multiply", r->energy.multiply);
	cJSON_AddNumberToObject(s, "accumulate", r->energy.accumulate);
	cJSON_AddNumberToObject(s, "bias", r->energy.bias);
	cJSON_AddNumberToObject(s, "dense_dram", r->energy.dense_dram);
	cJSON_AddNumberToObject(s, "dense_compute", r->energy.dense_compute);
	arch_layer_json(o, fo, x->arch, total ? x->rep->n_layers : li);
	return o;
}

static cJSON *report_json(const struct ctx *x, const struct budgets *bu)
{
	const spz_report *r = x->rep;
	const spz_energy_table *t = &x->opts->energy;
	cJSON *j = cJSON_CreateObject(), *s;
	cJSON_AddStringToObject(j, "format", "spz-report");
	cJSON_AddNumberToObject(j, "version", 1);
	cJSON_AddStringToObject(j, "input", x->input);
	cJSON_AddStringToObject(j, "kind", x->kind);
	cJSON_AddStringToObject(j, "model", x->eie->name ? x->eie->name : "");
	cJSON_AddNumberToObject(j, "pes", r->pes);
	cJSON_AddNumberToObject(j, "index_bits", r->index_bits);
	if (x->what_if_bits)
		cJSON_AddNumberToObject(j, "what_if_code_bits", x->what_if_bits);
	else
		cJSON_AddNullToObject(j, "what_if_code_bits");
	cJSON_AddNumberToObject(j, "clock_mhz", r->clock_mhz);
	if (x->activity) {
		cJSON_AddNullToObject(j, "act_density");
		cJSON_AddStringToObject(j, "activity", x->activity);
	} else {
		cJSON_AddNumberToObject(j, "act_density", x->opts->act_density);
		cJSON_AddNullToObject(j, "activity");
	}
	s = cJSON_AddObjectToObject(j, "sram_capacity");
	add_u64(s, "matrix_bytes", r->sram_matrix_capacity);
	add_u64(s, "pointer_bytes", r->sram_pointer_capacity);
	s = cJSON_AddObjectToObject(j, "energy_table_pj");
	size_t nk;
	const spz_table_key *k = spz_energy_table_keys(&nk);
	for (size_t i = 0; i < nk; i++)
		cJSON_AddNumberToObject(s, k[i].key, *(const double *)
		                        ((const char *)t + k[i].off));
	arch_json(j, x->arch);
	other_json(j, x->other);
	arch_conv_json(j, x->arch);
	cJSON *ls = cJSON_AddArrayToObject(j, "layers");
	for (size_t i = 0; i < r->n_layers; i++)
		cJSON_AddItemToArray(ls, layer_json(&r->layers[i], x, i));
	cJSON_AddItemToObject(j, "total", layer_json(&r->total, x, 0));
	cJSON *b = cJSON_AddArrayToObject(j, "budgets");
	const spz_report_layer *tt = &r->total;
	struct {
		int on;
		const char *name;
		double limit, value;
		int ok;
	} all[3] = {
		{bu->has_bytes, "max-bytes", (double)bu->max_bytes,
		 (double)((tt->bits.total + 7) / 8),
		 (tt->bits.total + 7) / 8 <= bu->max_bytes},
		{bu->has_cycles, "max-cycles", (double)bu->max_cycles,
		 tt->cycles_estimate,
		 tt->cycles_estimate <= (double)bu->max_cycles},
		{bu->has_ratio, "min-compression", bu->min_ratio,
		 tt->compression_ratio, tt->compression_ratio >= bu->min_ratio},
	};
	for (int i = 0; i < 3; i++) {
		if (!all[i].on)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", all[i].name);
		cJSON_AddNumberToObject(o, "limit", all[i].limit);
		cJSON_AddNumberToObject(o, "value", all[i].value);
		cJSON_AddBoolToObject(o, "ok", all[i].ok);
		cJSON_AddItemToArray(b, o);
	}
	return j;
}

/* ------------------------------------------------------------------ */
/* Inputs                                                               */

/* Per-layer input densities from `spz run --json`'s "act_density_in",
 * matched by layer (node) name. */
static int load_activity(double *dens, const char *path, const spz_eie *e)
{
	cJSON *j;
	int rc = cli_read_json(&j, path, "an activity file");
	if (rc)
		return rc;
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
	if (!cJSON_IsArray(layers)) {
		cJSON_Delete(j);
		return cli_error("'%s': an activity file is the JSON of 'spz run "
		                 "--json' (an object with a \"layers\" array)",
		                 path);
	}
	for (size_t i = 0; i < e->n_layers; i++) {
		const char *name = e->layers[i].node;
		const cJSON *l, *found = NULL;
		cJSON_ArrayForEach(l, layers) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(l, "name");
			if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
				found = l;
		}
		if (!found) {
			cJSON_Delete(j);
			return cli_error("'%s': no activity for layer '%s'", path,
			                 name);
		}
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(
			found, "act_density_in");
		if (!cJSON_IsNumber(d) || !(d->valuedouble >= 0 &&
		                            d->valuedouble <= 1)) {
			cJSON_Delete(j);
			return cli_error("'%s': layer '%s': \"act_density_in\" must "
			                 "be a number in 0..1", path, name);
		}
		dens[i] = d->valuedouble;
	}
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Figures                                                              */

struct figure {
	char *path;
	unsigned char *png;
	size_t len;
};

/* A layer name as a file name: [A-Za-z0-9._-] kept, the rest '_'. */
static void safe_name(char *b, size_t n, const char *name)
{
	size_t i = 0;
	for (; name[i] && i + 1 < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		         c == '_';
		b[i] = ok && !(i == 0 && c == '.') ? c : '_';
	}
	b[i] = 0;
}

static int add_figure(struct figure *fig, const char *dir, const char *base,
                      const char *what, spz_rgb *img, int rc,
                      spz_error *err)
{
	if (rc)
		return rc;
	size_t n = strlen(dir) + strlen(base) + strlen(what) + 8;
	fig->path = malloc(n);
	if (!fig->path) {
		spz_rgb_free(img);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	snprintf(fig->path, n, "%s/%s-%s.png", dir, base, what);
	rc = spz_png_encode(&fig->png, &fig->len, img->pixels, img->width,
	                    img->height, err);
	spz_rgb_free(img);
	return rc;
}

/* Renders the three figures of every layer into memory. */
static int render_figures(struct figure *figs, const struct ctx *x,
                          const char *dir, spz_error *err)
{
	const spz_eie *e = x->eie;
	int rc = 0;
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		const spz_report_layer *r = &x->rep->layers[i];
		char base[200], title[400];
		safe_name(base, sizeof base, l->node);
		/* Names that clash once sanitized get the layer's number. */
		for (size_t k = 0; k < i; k++) {
			char other[200];
			safe_name(other, sizeof other, e->layers[k].node);
			if (!strcmp(other, base)) {
				size_t at = strlen(base) < 180 ? strlen(base) : 180;
				snprintf(base + at, sizeof base - at, "-%zu", i + 1);
				break;
			}
		}
		struct figure *f = &figs[3 * i];
		float *grid;
		uint32_t gw, gh, block;
		spz_rgb *img = NULL;
		rc = spz_report_density_grid(&grid, &gw, &gh, &block, e, l, 1024,
		                             err);
		if (rc)
			break;
		snprintf(title, sizeof title, "%s: weight density, %lldx%lld",
		         l->node, (long long)l->rows, (long long)l->cols);
		rc = spz_figure_heatmap(&img, grid, gw, gh, block, l->rows,
		                        l->cols, title, err);
		free(grid);
		rc = add_figure(&f[0], dir, base, "heatmap", img, rc, err);
		if (rc)
			break;
		spz_histogram *h;
		const spz_tensor *t = x->model
			? spz_model_tensor(x->model, l->weight) : NULL;
		rc = t ? spz_histogram_of_tensor(&h, t, 64, err)
		       : spz_histogram_of_layer(&h, e, l, 64, err);
		if (rc)
			break;
		snprintf(title, sizeof title, "%s: weights%s", l->node,
		         h->n_marks ? " and codebook centroids" : "");
		img = NULL;
		rc = spz_figure_histogram(&img, h, title, err);
		spz_histogram_free(h);
		rc = add_figure(&f[1], dir, base, "histogram", img, rc, err);
		if (rc)
			break;
		snprintf(title, sizeof title, "%s: entries per PE (%u PEs)",
		         l->node, e->pes);
		img = NULL;
		rc = spz_figure_pe_bars(&img, r->pe_entries, r->pe_padding,
		                        e->pes, title, err);
		rc = add_figure(&f[2], dir, base, "pes", img, rc, err);
	}
	return rc;
}

/* The model's speedup chart: MODEL-designs.png. */
static int designs_figure(struct figure *f, const struct ctx *x,
                          const char *dir)
{
	spz_error err = {0};
	const char *model = x->eie->name && x->eie->name[0] ? x->eie->name
	                                                    : "model";
	char base[200];
	safe_name(base, sizeof base, model);
	size_t n = strlen(dir) + strlen(base) + 16;
	if (!(f->path = malloc(n)))
		return cli_error("out of memory");
	snprintf(f->path, n, "%s/%s-designs.png", dir, base);
	if (arch_png(&f->png, &f->len, x->arch, model, &err))
		return cli_fail(&err);
	return 0;
}

/* Writes every figure; on a failure removes those already written. */
static int write_figures(struct figure *figs, size_t n, spz_error *err)
{
	for (size_t i = 0; i < n; i++) {
		spz_output o;
		int rc = spz_output_open(&o, figs[i].path, err);
		if (!rc) {
			fwrite(figs[i].png, 1, figs[i].len, o.f);
			rc = spz_output_commit(&o, err);
		}
		if (rc) {
			while (i-- > 0)
				unlink(figs[i].path);
			return rc;
		}
	}
	return 0;
}

static void free_figures(struct figure *figs, size_t n)
{
	for (size_t i = 0; figs && i < n; i++) {
		free(figs[i].path);
		free(figs[i].png);
	}
	free(figs);
}

/* ------------------------------------------------------------------ */
/* The command                                                          */

/* The N:M group size to check: the model's N:M pruning record, else 4. */
static int nm_group(const spz_model *m)
{
	for (size_t i = 0; m && i < m->n_tensors; i++)
		if (m->tensors[i].prune && m->tensors[i].prune->nm_m >= 2 &&
		    m->tensors[i].prune->nm_m <= 16)
			return m->tensors[i].prune->nm_m;
	return 4;
}

static int parse_kb(const char *opt, const char *s, uint64_t *out)
{
	uint64_t v;
	if (cli_parse_u64(s, &v) || v < 1 || v > (UINT64_C(1) << 40))
		return cli_usage("report", "%s takes a size in KiB (1 or "
		                 "more), not '%s'", opt, s);
	*out = v * 1024;
	return 0;
}

/*
 * The image to report on: an EIE image as it is, or the image a model
 * (or a plain CSC / CSR / N:M image, through the model it holds) would
 * pack to. *m stays NULL for an EIE image. what_if_flags: --pes,
 * --index-bits or --bits were given, which only a model takes.
 */
static int read_input(spz_model **m, spz_eie **e, const char **kind,
                      const char *path, const spz_eie_options *eo, int bits,
                      int what_if_flags)
{
	spz_input in;
	spz_error err = {0};
	if (spz_input_open(&in, path, &err))
		return cli_fail(&err);
	int rc = 0;
	static const char *kinds[] = {"model", "eie", "csc", "csr", "nm"};
	int ik = spz_input_kind(&in) == SPZ_FILE_IMAGE ? spz_image_kind(&in)
	                                               : 0;
	*kind = ik >= 0 && ik <= SPZ_IMAGE_NM ? kinds[ik] : "image";
	if (ik == SPZ_IMAGE_EIE_HUFF)
		*kind = "eie-huffman";
	if (spz_input_kind(&in) == SPZ_FILE_IMAGE &&
	    (ik == SPZ_IMAGE_EIE || ik == SPZ_IMAGE_EIE_HUFF)) {
		if (what_if_flags) {
			spz_input_close(&in);
			return cli_usage("report", "'%s' is an EIE image: --pes, "
			                 "--index-bits and --bits apply to models",
			                 path);
		}
		rc = spz_eie_read(e, &in, &err);
		spz_input_close(&in);
		return rc ? cli_fail(&err) : 0;
	}
	if (spz_input_kind(&in) == SPZ_FILE_IMAGE)
		rc = spz_plain_read_model(m, &in, &err);
	else
		rc = cli_read_model(m, &in, &err);
	spz_input_close(&in);
	if (!rc && (rc = spz_report_pack(e, *m, eo, bits, &err)) ==
	    SPZ_EUNSUPPORTED) {
		/* Not a chain EIE runs whole (a Conv net): its fully
		 * connected layers are reported as EIE, the rest as not. */
		spz_eie_options fc = *eo;
		fc.fc_only = 1;
		spz_error first = err;
		/* No layer for EIE at all: the chain's refusal says why. */
		if ((rc = spz_report_pack(e, *m, &fc, bits, &err)))
			err = first;
	}
	if (rc) {
		spz_model_free(*m);
		*m = NULL;
	}
	return rc ? cli_fail(&err) : 0;
}

/* --input-shape C,H,W: 1 to SPZ_MAX_DIMS - 1 dims of one sample. */
static int parse_shape(int64_t *dims, const char *s)
{
	int n = 0;
	const char *p = s;
	while (*p) {
		char part[32];
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		int64_t v;
		if (n == SPZ_MAX_DIMS - 1 || len >= sizeof part)
			break;
		memcpy(part, p, len);
		part[len] = 0;
		if (cli_parse_i64(part, &v) || v < 1 || v > INT32_MAX)
			break;
		dims[n++] = v;
		if (!c)
			return n;
		p = c + 1;
	}
	return cli_usage("report", "--input-shape takes 1 to %d sizes of "
	                 "one sample, like 3,32,32 (C,H,W), not '%s'",
	                 SPZ_MAX_DIMS - 1, s) ? -1 : -1;
}

/* Per layer the coded entry and padding bits of a Huffman image
 * (*out holds both arrays) and its header bits in heads. */
static int huffman_bits(uint64_t **out, uint64_t *heads,
                        spz_report_options *ro, const spz_eie *e)
{
	size_t n = e->n_layers;
	uint64_t *b = calloc(2 * n, sizeof *b);
	if (!b)
		return cli_error("out of memory");
	spz_error err = {0};
	for (size_t i = 0; i < n; i++)
		if (spz_eie_huff_layer_bits(&b[i], &b[n + i], &heads[i], e,
		                            &e->layers[i], &err)) {
			free(b);
			return cli_fail(&err);
		}
	ro->layer_entry_bits = b;
	ro->layer_padding_bits = b + n;
	*out = b;
	return 0;
}

int cmd_report(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"pes", required_argument, 0, 'p'},
		{"index-bits", required_argument, 0, 'i'},
		{"bits", required_argument, 0, 'b'},
		{"act-density", required_argument, 0, 'a'},
		{"activity", required_argument, 0, 'A'},
		{"clock-mhz", required_argument, 0, 'c'},
		{"sram-matrix-kb", required_argument, 0, 'M'},
		{"sram-pointer-kb", required_argument, 0, 'P'},
		{"energy", required_argument, 0, 'e'},
		{"csv", no_argument, 0, 'C'},
		{"markdown", no_argument, 0, 'm'},
		{"output", required_argument, 0, 'o'},
		{"png", required_argument, 0, 'g'},
		{"max-bytes", required_argument, 0, 'B'},
		{"max-cycles", required_argument, 0, 'Y'},
		{"min-compression", required_argument, 0, 'R'},
		{"arch", required_argument, 0, 'D'},
		{"batch", required_argument, 0, 'N'},
		{"arch-table", required_argument, 0, 'T'},
		{"seed", required_argument, 0, 'S'},
		{"input-shape", required_argument, 0, 'H'},
		CLI_COMMON_OPTIONS,
		{0, 0, 0, 0}};
	struct arch_cli ac = {NULL, 1, NULL, 1, 1.0, NULL};
	struct arch_ctx arch = {0};
	spz_report_options ro = SPZ_REPORT_OPTIONS_INIT;
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	struct budgets bu = {0};
	int form = FORM_TEXT, forms = 0, bits = 4, n_shape = 0;
	int64_t shape[SPZ_MAX_DIMS - 1];
	int has_pes = 0, has_index = 0, has_bits = 0, has_density = 0;
	const char *activity = NULL, *energy = NULL, *out = "-", *png = NULL;
	int c;
	int64_t v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, lopts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg)) {
			if (c == CLI_OPT_JSON) {
				form = FORM_JSON;
				forms++;
			}
			continue;
		}
		switch (c) {
		case 'p':
			if (cli_int_range(&v, "report", "--pes", optarg,
			                  SPZ_EIE_PES_MIN, SPZ_EIE_PES_MAX))
				return EXIT_USAGE;
			eo.pes = (uint32_t)v;
			has_pes = 1;
			break;
		case 'i':
			if (cli_int_range(&v, "report", "--index-bits", optarg,
			                  SPZ_EIE_INDEX_BITS_MIN,
			                  SPZ_EIE_INDEX_BITS_MAX))
				return EXIT_USAGE;
			eo.index_bits = (int)v;
			has_index = 1;
			break;
		case 'b':
			if (cli_int_range(&v, "report", "--bits", optarg, 1, 8))
				return EXIT_USAGE;
			bits = (int)v;
			has_bits = 1;
			break;
		case 'a':
			if (cli_parse_double(optarg, &ro.act_density) ||
			    ro.act_density < 0 || ro.act_density > 1)
				return cli_usage("report", "--act-density takes a "
				                 "number in 0..1, not '%s'", optarg);
			has_density = 1;
			break;
		case 'A': activity = optarg; break;
		case 'c':
			if (cli_parse_double(optarg, &ro.clock_mhz) ||
			    ro.clock_mhz <= 0)
				return cli_usage("report", "--clock-mhz takes a "
				                 "number above 0, not '%s'", optarg);
			break;
		case 'M':
			if (parse_kb("--sram-matrix-kb", optarg,
			             &ro.sram_matrix_bytes))
				return EXIT_USAGE;
			break;
		case 'P':
			if (parse_kb("--sram-pointer-kb", optarg,
			             &ro.sram_pointer_bytes))
				return EXIT_USAGE;
			break;
		case 'e': energy = optarg; break;
		case 'C': form = FORM_CSV; forms++; break;
		case 'm': form = FORM_MARKDOWN; forms++; break;
		case 'o': out = optarg; break;
		case 'g': png = optarg; break;
		case 'B':
			if (cli_parse_u64(optarg, &bu.max_bytes))
				return cli_usage("report", "--max-bytes takes a "
				                 "non-negative integer, not '%s'",
				                 optarg);
			bu.has_bytes = 1;
			break;
		case 'Y':
			if (cli_parse_u64(optarg, &bu.max_cycles))
				return cli_usage("report", "--max-cycles takes a "
				                 "non-negative integer, not '%s'",
				                 optarg);
			bu.has_cycles = 1;
			break;
		case 'R':
			if (cli_parse_double(optarg, &bu.min_ratio) ||
			    bu.min_ratio < 0)
				return cli_usage("report", "--min-compression takes "
				                 "a ratio >= 0, not '%s'", optarg);
			bu.has_ratio = 1;
			break;
		case 'D': ac.list = optarg; break;
		case 'N':
			if (cli_parse_u64(optarg, &ac.batch) || ac.batch < 1 ||
			    ac.batch > (UINT64_C(1) << 40))
				return cli_usage("report", "--batch takes an integer "
				                 "in 1..2^40, not '%s'", optarg);
			break;
		case 'T': ac.table = optarg; break;
		case 'S':
			if (cli_parse_u64(optarg, &ac.seed))
				return cli_usage("report", "--seed takes a "
				                 "non-negative integer, not '%s'",
				                 optarg);
			break;
		case 'H':
			if ((n_shape = parse_shape(shape, optarg)) < 0)
				return EXIT_USAGE;
			break;
		default:
			return cli_opt_error("report", c, argv, lopts);
		}
	}
	if (optind != argc - 1)
		return cli_usage("report", "expected one input file (a model or "
		                 "an image)");
	if (forms > 1)
		return cli_usage("report", "--json, --csv and --markdown exclude "
		                 "each other");
	if (cli_opts.json && strcmp(cli_opts.json, "-")) {
		if (strcmp(out, "-") && strcmp(out, cli_opts.json))
			return cli_usage("report", "--json=FILE and -o name two "
			                 "outputs; give one");
		out = cli_opts.json;
	}
	static const char *const text_exts[] = {".txt", NULL};
	static const char *const json_exts[] = {".json", NULL};
	static const char *const csv_exts[] = {".csv", NULL};
	static const char *const md_exts[] = {".md", NULL};
	if (cli_check_ext("report", out, form == FORM_JSON ? "JSON"
	                  : form == FORM_CSV ? "CSV"
	                  : form == FORM_MARKDOWN ? "Markdown" : "text",
	                  form == FORM_JSON ? json_exts
	                  : form == FORM_CSV ? csv_exts
	                  : form == FORM_MARKDOWN ? md_exts : text_exts))
		return EXIT_USAGE;
	if (activity && has_density)
		return cli_usage("report", "--act-density and --activity exclude "
		                 "each other");
	const char *input = argv[optind];
	if (cli_no_input("report", input, "a model or an image"))
		return EXIT_USAGE;
	spz_error err = {0};
	if (energy && spz_energy_load(&ro.energy, energy, &err))
		return cli_fail(&err);
	ac.act_density = ro.act_density;
	ac.activity = activity;
	int arc = arch_options(&arch, &ac);
	if (arc)
		return arc;

	spz_model *m = NULL;
	spz_eie *e = NULL;
	struct ctx x = {input, "model", NULL, NULL, NULL, &ro, activity, 0,
	                NULL, &arch, NULL};
	int rc = read_input(&m, &e, &x.kind, input, &eo, bits,
	                    has_pes || has_index || has_bits);
	if (rc) {
		arch_free(&arch);
		return rc;
	}
	struct other_ctx other = {0};
	x.model = m;
	x.eie = e;
	x.other = &other;
	rc = other_collect(&other, m, e, shape, n_shape);
	x.quantized = calloc(e->n_layers, sizeof *x.quantized);
	double *dens = calloc(e->n_layers, sizeof *dens);
	uint64_t *heads = calloc(e->n_layers, sizeof *heads);
	if (!rc && (!x.quantized || !dens || !heads))
		rc = cli_error("out of memory");
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		const spz_tensor *t = m ? spz_model_tensor(m, e->layers[i].weight)
		                        : NULL;
		x.quantized[i] = !m || (t && t->codebook);
		if (!x.quantized[i])
			x.what_if_bits = bits;
		heads[i] = spz_eie_layer_header_bits(e, &e->layers[i]);
	}
	ro.image_header_bits = spz_eie_header_bits(e);
	ro.layer_header_bits = heads;
	/* A Huffman image: its entries and framing as on file. */
	uint64_t *hbits = NULL;
	if (!rc && !strcmp(x.kind, "eie-huffman"))
		rc = huffman_bits(&hbits, heads, &ro, e);
	ro.nm_m = nm_group(m);
	if (!rc && activity) {
		int is_mask = 0;
		rc = arch_read_masks(&arch, &is_mask, dens, activity, e,
		                     &other);
		if (!rc && !is_mask)
			rc = load_activity(dens, activity, e);
		ro.layer_act_density = dens;
	}
	spz_report *rep = NULL;
	if (!rc && spz_report_compute(&rep, e, &ro, &err))
		rc = cli_fail(&err);
	x.rep = rep;
	if (!rc)
		rc = arch_compute(&arch, &ac, e, rep, activity ? dens : NULL,
		                  &other);

	struct figure *figs = NULL;
	size_t n_figs = 0;
	if (!rc && png) {
		struct stat st;
		if (mkdir(png, 0777) && errno != EEXIST)
			rc = cli_error("cannot create '%s': %s", png,
			               strerror(errno));
		else if (stat(png, &st) || !S_ISDIR(st.st_mode))
			rc = cli_error("cannot write figures to '%s': not a "
			               "directory", png);
		n_figs = 3 * e->n_layers + 1;
		if (!rc && !(figs = calloc(n_figs, sizeof *figs)))
			rc = cli_error("out of memory");
		if (!rc && render_figures(figs, &x, png, &err))
			rc = cli_fail(&err);
		if (!rc)
			rc = designs_figure(&figs[n_figs - 1], &x, png);
	}
	spz_output o;
	if (!rc && spz_output_open(&o, out, &err))
		rc = cli_fail(&err);
	if (!rc) {
		if (form == FORM_JSON) {
			cJSON *j = report_json(&x, &bu);
			char *s = cJSON_Print(j);
			cJSON_Delete(j);
			if (s)
				fprintf(o.f, "%s\n", s);
			else
				rc = cli_error("out of memory");
			free(s);
		} else if (form == FORM_CSV) {
			print_csv(o.f, &x);
		} else if (form == FORM_MARKDOWN) {
			print_markdown(o.f, &x);
		} else {
			print_text(o.f, &x, &bu);
		}
		if (!rc && figs && write_figures(figs, n_figs, &err))
			rc = cli_fail(&err);
		if (rc)
			spz_output_abort(&o);
		else if (spz_output_commit(&o, &err)) {
			rc = cli_fail(&err);
			for (size_t i = 0; figs && i < n_figs; i++)
				unlink(figs[i].path);
		}
	}
	char msg[512];
	if (!rc && check_budgets(msg, sizeof msg, &bu, &rep->total)) {
		fprintf(stderr, "spz report: budget exceeded: %s\n", msg);
		rc = EXIT_CHECK;
	}
	free_figures(figs, n_figs);
	other_free(&other);
	arch_free(&arch);
	spz_report_free(rep);
	free(dens);
	free(heads);
	free(hbits);
	free(x.quantized);
	spz_eie_free(e);
	spz_model_free(m);
	return rc;
}
