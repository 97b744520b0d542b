/*
 * run.c - spz run: execute an EIE image (or a quantized model, packed in
 * memory) on the cycle-level emulator in 16-bit fixed point, print its
 * statistics, optionally compare with the float model, write the outputs
 * and a per-cycle trace.
 */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

/* Default --tolerance on the relative error of --check: see spz-run(1). */
#define DEFAULT_TOLERANCE 1e-3

struct run_opts {
	const char *file, *input, *out, *trace_path, *energy;
	const char *frac_s;
	int raw, random, check;
	double density, tolerance, clock;
	uint64_t seed, batch, fifo, pes, index_bits;
	int pes_set, ib_set;
	uint64_t trace_from, trace_to;
	spz_data_options data;
	int use_data;
};

/* Loads an EIE image, or a quantized model packed with --pes and
 * --index-bits; prints the failure and returns an exit code. */
static int load_image(spz_eie **out, const struct run_opts *o)
{
	spz_input in;
	spz_error err = {0};
	int rc = spz_input_open(&in, o->file, &err);
	if (rc)
		return cli_fail(&err);
	spz_file_kind kind = spz_input_kind(&in);
	if (kind == SPZ_FILE_IMAGE) {
		int ik = spz_image_kind(&in);
		if (ik != SPZ_IMAGE_EIE && ik != SPZ_IMAGE_EIE_HUFF) {
			spz_input_close(&in);
			return cli_error("'%s' is a %s image; spz run executes "
			                 "EIE images (spz pack --format eie)",
			                 in.label,
			                 ik == SPZ_IMAGE_CSC ? "CSC" :
			                 ik == SPZ_IMAGE_CSR ? "CSR" : "N:M");
		}
		rc = spz_eie_read(out, &in, &err);
		spz_input_close(&in);
		if (rc)
			return cli_fail(&err);
		if ((o->pes_set && o->pes != (*out)->pes) ||
		    (o->ib_set && (int)o->index_bits != (*out)->index_bits)) {
			int r = cli_usage("run", "'%s' is an image packed for %u "
			                  "PEs with %d-bit indices; --pes and "
			                  "--index-bits apply to a model",
			                  o->file, (*out)->pes,
			                  (*out)->index_bits);
			spz_eie_free(*out);
			return r;
		}
		return 0;
	}
	spz_model *m;
	rc = cli_read_model(&m, &in, &err);
	spz_input_close(&in);
	if (rc)
		return cli_fail(&err);
	spz_eie_options po = SPZ_EIE_OPTIONS_INIT;
	po.pes = (uint32_t)o->pes;
	po.index_bits = (int)o->index_bits;
	po.progress = cli_progress_cb;
	po.progress_ctx = (void *)"pack";
	spz_error sub = {0};
	rc = spz_eie_pack(out, m, &po, &sub);
	cli_progress_end();
	spz_model_free(m);
	if (rc)
		return cli_error("'%s': %s", o->file, sub.text);
	return 0;
}

/* --random-input: exactly round(density * n) non-zeros per vector at
 * random positions (selection sampling), uniform in (0, 1]. */
static float *random_vectors(const struct run_opts *o, size_t n)
{
	float *x = calloc(o->batch * n, sizeof *x);
	if (!x)
		return NULL;
	spz_rng r;
	spz_rng_seed(&r, o->seed);
	for (size_t s = 0; s < o->batch; s++) {
		size_t want = (size_t)llround(o->density * (double)n);
		for (size_t i = 0; i < n; i++) {
			if (spz_rng_below(&r, n - i) < want) {
				x[s * n + i] = (float)(1 - spz_rng_uniform(&r));
				want--;
			}
		}
	}
	return x;
}

struct trace_ctx {
	FILE *f;
	int errnum;   /* errno of a failed write, 0 if none */
};

static int trace_line(void *ctx, const spz_emu_event *ev)
{
	struct trace_ctx *t = ctx;
	FILE *f = t->f;
	char pe[16], col[24] = "", row[24] = "";
	if (ev->pe < 0)
		strcpy(pe, "ccu");
	else
		snprintf(pe, sizeof pe, "%d", ev->pe);
	if (ev->col >= 0)
		snprintf(col, sizeof col, "%" PRId64, ev->col);
	if (ev->row >= 0)
		snprintf(row, sizeof row, "%" PRId64, ev->row);
	if (fprintf(f, "%" PRIu64 ",%s,%s,%u,%s,%s\n", ev->cycle, pe,
	            ev->event, ev->layer, col, row) < 0) {
		t->errnum = errno ? errno : EIO;
		return SPZ_EIO;
	}
	return 0;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static cJSON *range_json(const spz_emu_range *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "min", (double)r->min);
	cJSON_AddNumberToObject(o, "mean", r->mean);
	cJSON_AddNumberToObject(o, "max", (double)r->max);
	return o;
}

struct check_result {
	int done, passed;
	double max_abs, max_rel, tolerance;
};

static cJSON *stats_json(const spz_eie *e, const spz_emu_stats *s,
                         const struct run_opts *o,
                         const struct check_result *ck)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "image", e->name ? e->name : "");
	cJSON_AddNumberToObject(j, "pes", e->pes);
	cJSON_AddNumberToObject(j, "fifo_depth", (double)o->fifo);
	cJSON_AddNumberToObject(j, "clock_mhz", o->clock);
	cJSON_AddNumberToObject(j, "vectors", (double)s->runs);
	cJSON *ls = cJSON_AddArrayToObject(j, "layers");
	uint64_t entries = 0, padding = 0;
	for (size_t n = 0; n < s->n_layers; n++) {
		const spz_emu_layer_stats *l = &s->layers[n];
		const spz_eie_layer *el = &e->layers[n];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", el->node);
		cJSON_AddNumberToObject(x, "rows", (double)el->rows);
		cJSON_AddNumberToObject(x, "cols", (double)el->cols);
		cJSON_AddNumberToObject(x, "act_frac_in", l->frac_in);
		cJSON_AddNumberToObject(x, "act_frac_out", l->frac_out);
		cJSON_AddNumberToObject(x, "cycles", (double)l->cycles);
		cJSON_AddNumberToObject(x, "cycles_theoretical",
		                        (double)l->cycles_theoretical);
		cJSON_AddNumberToObject(x, "cycles_analytical",
		                        (double)l->cycles_analytical);
		cJSON_AddNumberToObject(x, "cycles_fixed",
		                        (double)l->cycles_fixed);
		cJSON_AddNumberToObject(x, "load_balance", l->load_balance);
		cJSON_AddItemToObject(x, "pe_busy", range_json(&l->pe_busy));
		cJSON_AddItemToObject(x, "pe_idle", range_json(&l->pe_idle));
		cJSON_AddItemToObject(x, "pe_stalled",
		                      range_json(&l->pe_stalled));
		cJSON_AddNumberToObject(x, "ccu_stall_cycles",
		                        (double)l->ccu_stall_cycles);
		cJSON_AddNumberToObject(x, "broadcasts", (double)l->broadcasts);
		cJSON_AddNumberToObject(x, "entries", (double)l->entries);
		cJSON_AddNumberToObject(x, "padding_entries",
		                        (double)l->padding_entries);
		cJSON_AddNumberToObject(x, "bypasses", (double)l->bypasses);
		cJSON_AddNumberToObject(x, "saturations",
		                        (double)l->saturations);
		cJSON_AddNumberToObject(x, "act_density_in",
		                        ratio(l->act_in_nonzero, l->act_in));
		cJSON_AddNumberToObject(x, "act_density_out",
		                        ratio(l->act_out_nonzero, l->act_out));
		cJSON_AddNumberToObject(x, "fifo_occupancy_mean",
		                        ratio(l->fifo_occupancy,
		                              l->cycles * e->pes));
		cJSON_AddNumberToObject(x, "fifo_occupancy_max", l->fifo_max);
		cJSON *sr = cJSON_AddObjectToObject(x, "sram_reads");
		cJSON_AddNumberToObject(sr, "matrix", (double)l->matrix_reads);
		cJSON_AddNumberToObject(sr, "pointer",
		                        2.0 * (double)l->pointer_reads);
		cJSON_AddNumberToObject(sr, "activation", (double)l->act_reads);
		cJSON_AddNumberToObject(x, "energy_pj", l->energy_pj);
		cJSON_AddNumberToObject(x, "time_us", l->time_us);
		cJSON_AddItemToArray(ls, x);
		entries += l->entries;
		padding += l->padding_entries;
	}
	cJSON *t = cJSON_AddObjectToObject(j, "total");
	cJSON_AddNumberToObject(t, "cycles", (double)s->cycles);
	cJSON_AddNumberToObject(t, "time_us", s->time_us);
	cJSON_AddNumberToObject(t, "energy_pj", s->energy_pj);
	cJSON_AddNumberToObject(t, "entries", (double)entries);
	cJSON_AddNumberToObject(t, "padding_entries", (double)padding);
	if (ck->done) {
		cJSON *c = cJSON_AddObjectToObject(j, "check");
		cJSON_AddNumberToObject(c, "max_abs_error", ck->max_abs);
		cJSON_AddNumberToObject(c, "max_rel_error", ck->max_rel);
		cJSON_AddNumberToObject(c, "tolerance", ck->tolerance);
		cJSON_AddBoolToObject(c, "passed", ck->passed);
	} else {
		cJSON_AddNullToObject(j, "check");
	}
	return j;
}

static void print_range(const char *what, const spz_emu_range *r)
{
	fprintf(stderr, " %s %" PRIu64 "/%.1f/%" PRIu64, what, r->min, r->mean,
	        r->max);
}

static void print_text(const spz_eie *e, const spz_emu_stats *s,
                       const struct run_opts *o,
                       const struct check_result *ck)
{
	fprintf(stderr, "spz run: '%s': %zu layer%s on %u PEs, FIFO %" PRIu64
	        ", %g MHz, %" PRIu64 " vector%s\n", e->name ? e->name : "",
	        s->n_layers, s->n_layers == 1 ? "" : "s", e->pes, o->fifo,
	        o->clock, s->runs, s->runs == 1 ? "" : "s");
	/* 80 columns: two tables (shape and time, then entries, activity
	 * and energy), each led by the layer; --wide prints one. */
	static const char *const head[] = {
		"rows", "cols", "Q", "cycles", "theory", "balance", "entries",
		"padding", "in", "out", "stalls", "energy nJ", "time us"};
	static const int width[] = {8, 8, 6, 10, 10, 7, 10, 8, 6, 6, 8, 10,
	                            10};
	int split = cli_opts.wide ? 13 : 6;
	uint64_t entries = 0, padding = 0;
	for (size_t n = 0; n < s->n_layers; n++) {
		entries += s->layers[n].entries;
		padding += s->layers[n].padding_entries;
	}
	for (int from = 0; from < 13; from = split, split = 13) {
		if (from)
			fputc('\n', stderr);
		fprintf(stderr, "%-12s", "layer");
		for (int c = from; c < split; c++)
			fprintf(stderr, " %*s", width[c], head[c]);
		fputc('\n', stderr);
		for (size_t n = 0; n <= s->n_layers; n++) {
			int total = n == s->n_layers;
			const spz_emu_layer_stats *l = total ? NULL : &s->layers[n];
			const spz_eie_layer *el = total ? NULL : &e->layers[n];
			char cell[13][32];
			for (int c = 0; c < 13; c++)
				cell[c][0] = 0;
			if (!total) {
				snprintf(cell[0], 32, "%" PRId64, el->rows);
				snprintf(cell[1], 32, "%" PRId64, el->cols);
				snprintf(cell[2], 32, "%d>%d", l->frac_in,
				         l->frac_out);
				snprintf(cell[3], 32, "%" PRIu64, l->cycles);
				snprintf(cell[4], 32, "%" PRIu64,
				         l->cycles_theoretical);
				snprintf(cell[5], 32, "%.3f", l->load_balance);
				snprintf(cell[6], 32, "%" PRIu64, l->entries);
				snprintf(cell[7], 32, "%" PRIu64,
				         l->padding_entries);
				snprintf(cell[8], 32, "%.1f%%", 100 *
				         ratio(l->act_in_nonzero, l->act_in));
				snprintf(cell[9], 32, "%.1f%%", 100 *
				         ratio(l->act_out_nonzero, l->act_out));
				snprintf(cell[10], 32, "%" PRIu64,
				         l->ccu_stall_cycles);
				snprintf(cell[11], 32, "%.3f", l->energy_pj / 1e3);
				snprintf(cell[12], 32, "%.3f", l->time_us);
			} else {
				snprintf(cell[3], 32, "%" PRIu64, s->cycles);
				snprintf(cell[6], 32, "%" PRIu64, entries);
				snprintf(cell[7], 32, "%" PRIu64, padding);
				snprintf(cell[11], 32, "%.3f", s->energy_pj / 1e3);
				snprintf(cell[12], 32, "%.3f", s->time_us);
			}
			const char *name = total ? "total" : el->node;
			if (cli_opts.wide)
				cli_pad(stderr, name, 12, 1);
			else
				cli_pad_cut(stderr, name, 12);
			for (int c = from; c < split; c++)
				fprintf(stderr, " %*s", width[c], cell[c]);
			fputc('\n', stderr);
		}
	}
	fputc('\n', stderr);
	for (size_t n = 0; n < s->n_layers; n++) {
		const spz_emu_layer_stats *l = &s->layers[n];
		fprintf(stderr, "%s: PE cycles min/mean/max", e->layers[n].node);
		print_range("busy", &l->pe_busy);
		print_range("idle", &l->pe_idle);
		print_range("stalled", &l->pe_stalled);
		fprintf(stderr, "\n%*sSRAM reads matrix %" PRIu64 " x64b, "
		        "pointer %" PRIu64 " x16b, activation %" PRIu64 " x16b",
		        2, "", l->matrix_reads, 2 * l->pointer_reads,
		        l->act_reads);
		if (l->saturations)
			fprintf(stderr, "; %" PRIu64 " saturations",
			        l->saturations);
		fputc('\n', stderr);
	}
	if (ck->done)
		fprintf(stderr, "check against the float model: max abs error "
		        "%.3g,\n  max rel error %.3g (tolerance %g): %s\n",
		        ck->max_abs, ck->max_rel, ck->tolerance,
		        ck->passed ? "ok" : "FAILED");
	fprintf(stderr, "total: %" PRIu64 " cycles, %.3f us, %.3f nJ per "
	        "vector%s\n", s->runs ? s->cycles / s->runs : 0,
	        s->runs ? s->time_us / (double)s->runs : 0.0,
	        s->runs ? s->energy_pj / 1e3 / (double)s->runs : 0.0,
	        !ck->done ? "" : ck->passed ? "; check ok" : "; check FAILED");
}

/* Parses "A:B" (A < B). */
static int parse_window(const char *s, uint64_t *a, uint64_t *b)
{
	char buf[64];
	const char *right;
	if (cli_split(s, ':', buf, sizeof buf, &right) ||
	    cli_parse_u64(buf, a) || cli_parse_u64(right, b) || *a >= *b)
		return -1;
	return 0;
}

static int parse_args(struct run_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"input", required_argument, 0, 'i'},
		{"input-raw", no_argument, 0, 'R'},
		{"random-input", no_argument, 0, 'r'},
		{"act-density", required_argument, 0, 'd'},
		{"seed", required_argument, 0, 's'},
		{"batch", required_argument, 0, 'b'},
		{"fifo", required_argument, 0, 'f'},
		{"clock-mhz", required_argument, 0, 'c'},
		{"pes", required_argument, 0, 'p'},
		{"index-bits", required_argument, 0, 'x'},
		{"act-frac-bits", required_argument, 0, 'a'},
		{"check", no_argument, 0, 'k'},
		{"tolerance", required_argument, 0, 't'},
		{"trace", required_argument, 0, 'T'},
		{"trace-cycles", required_argument, 0, 'C'},
		{"energy", required_argument, 0, 'e'},
		CLI_COMMON_OPTIONS,
		CLI_DATA_LONGOPTS,
		{0, 0, 0, 0}};
	const char *dens_s = NULL, *batch_s = NULL, *window = NULL;
	int64_t v;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		int t = cli_data_option(&o->data, "run", c, optarg);
		if (t < 0)
			return EXIT_USAGE;
		if (t) {
			o->use_data = 1;
			continue;
		}
		if (cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'i': o->input = optarg; break;
		case 'R': o->raw = 1; break;
		case 'r': o->random = 1; break;
		case 'd': dens_s = optarg; break;
		case 'b': batch_s = optarg; break;
		case 'a': o->frac_s = optarg; break;
		case 'k': o->check = 1; break;
		case 'T': o->trace_path = optarg; break;
		case 'C': window = optarg; break;
		case 'e': o->energy = optarg; break;
		case 's':
			if (cli_seed(&o->seed, "run", optarg))
				return EXIT_USAGE;
			break;
		case 'f':
			if (cli_int_range(&v, "run", "--fifo", optarg, 1, 65536))
				return EXIT_USAGE;
			o->fifo = (uint64_t)v;
			break;
		case 'p':
			if (cli_int_range(&v, "run", "--pes", optarg,
			                  SPZ_EIE_PES_MIN, SPZ_EIE_PES_MAX))
				return EXIT_USAGE;
			o->pes = (uint64_t)v;
			o->pes_set = 1;
			break;
		case 'x':
			if (cli_int_range(&v, "run", "--index-bits", optarg,
			                  SPZ_EIE_INDEX_BITS_MIN,
			                  SPZ_EIE_INDEX_BITS_MAX))
				return EXIT_USAGE;
			o->index_bits = (uint64_t)v;
			o->ib_set = 1;
			break;
		case 'c':
			if (cli_parse_double(optarg, &o->clock) ||
			    !(o->clock > 0))
				return cli_usage("run", "--clock-mhz takes a "
				                 "number above 0, not '%s'",
				                 optarg);
			break;
		case 't':
			if (cli_parse_double(optarg, &o->tolerance) ||
			    o->tolerance < 0)
				return cli_usage("run", "--tolerance takes a "
				                 "number >= 0, not '%s'", optarg);
			break;
		default:
			return cli_opt_error("run", c, argv, opts);
		}
	}
	if (optind == argc - 2 && cli_opts.json_bare)
		/* getopt leaves the file of "--json FILE" as an operand. */
		return cli_usage("run", "expected one image (or quantized "
		                 "model) file; --json writes to a file as "
		                 "--json=FILE, not '%s'", argv[argc - 1]);
	if (optind != argc - 1)
		return cli_usage("run", "expected one image (or quantized "
		                 "model) file");
	o->file = argv[optind];
	if (cli_no_input("run", o->file, "an image"))
		return EXIT_USAGE;
	if (!!o->input + o->random + o->use_data != 1)
		return cli_usage("run", "give one of --input FILE, "
		                 "--random-input and --data DIR (or --x FILE)");
	if (o->use_data && cli_data_check(&o->data, "run"))
		return EXIT_USAGE;
	if (o->raw && !o->input)
		return cli_usage("run", "--input-raw goes with --input FILE");
	if ((dens_s || batch_s) && !o->random)
		return cli_usage("run", "--act-density and --batch go with "
		                 "--random-input");
	if (dens_s && (cli_parse_double(dens_s, &o->density) ||
	               o->density < 0 || o->density > 1))
		return cli_usage("run", "--act-density takes a number in "
		                 "[0, 1], not '%s'", dens_s);
	if (batch_s) {
		if (cli_int_range(&v, "run", "--batch", batch_s, 1, 1000000))
			return EXIT_USAGE;
		o->batch = (uint64_t)v;
	}
	if (window && !o->trace_path)
		return cli_usage("run", "--trace-cycles goes with --trace FILE");
	if (window && parse_window(window, &o->trace_from, &o->trace_to))
		return cli_usage("run", "--trace-cycles takes A:B with "
		                 "integers A < B, not '%s'", window);
	if (o->input && !strcmp(o->input, "-") && !strcmp(o->file, "-"))
		return cli_usage("run", "the image and --input cannot both be "
		                 "standard input");
	int to_stdout = (o->out && !strcmp(o->out, "-")) +
	                (cli_opts.json && !strcmp(cli_opts.json, "-")) +
	                (o->trace_path && !strcmp(o->trace_path, "-"));
	if (to_stdout > 1)
		return cli_usage("run", "only one of -o, --json and --trace can "
		                 "write to standard output; give the others a "
		                 "file (--json=FILE)");
	return 0;
}

/* Labels within the image's outputs, or the one-line error. */
static int check_labels(const spz_dataset *d, size_t classes)
{
	for (size_t i = 0; i < d->n; i++)
		if ((size_t)d->labels[i] >= classes)
			return cli_error("sample %zu: label %d is outside the "
			                 "image's %zu classes", i, d->labels[i],
			                 classes);
	return 0;
}

/* Opens the output at path ("-" = stdout) or prints why not. */
static int open_out(spz_output *out, const char *path)
{
	spz_error err = {0};
	if (spz_output_open(out, path, &err))
		return cli_fail(&err);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = {0};
	o.density = 1;
	o.tolerance = DEFAULT_TOLERANCE;
	o.clock = 800;
	o.seed = 1;
	o.batch = 1;
	o.fifo = 8;
	o.pes = 64;
	o.index_bits = 4;
	o.trace_to = 1000;
	spz_data_options dflt = SPZ_DATA_OPTIONS_INIT;
	o.data = dflt;
	int rc = parse_args(&o, argc, argv);
	if (rc)
		return rc;
	spz_emu_options eo = SPZ_EMU_OPTIONS_INIT;
	spz_error err = {0};
	eo.fifo_depth = (uint32_t)o.fifo;
	eo.clock_mhz = o.clock;
	if (o.energy && spz_energy_load(&eo.energy, o.energy, &err))
		return cli_fail(&err);
	spz_eie *e = NULL;
	if ((rc = load_image(&e, &o)))
		return rc;

	size_t n_in = (size_t)e->layers[0].cols;
	size_t n_out = (size_t)e->layers[e->n_layers - 1].rows;
	float *x = NULL, *y = NULL, *yf = NULL;
	int16_t *xq = NULL, *yq = NULL;
	int *frac = calloc(e->n_layers + 1, sizeof *frac);
	size_t count = o.batch;
	int nested = o.batch > 1;
	spz_emu *emu = NULL;
	spz_output out = {0}, tr = {0};
	struct trace_ctx tctx = {0};
	struct check_result ck = {0};
	spz_dataset *ds = NULL;
	uint64_t correct = 0;
	if (!frac) {
		rc = cli_error("out of memory");
		goto done;
	}
	if (o.use_data) {
		if ((rc = cli_data_load(&ds, &o.data)))
			goto done;
		if (ds->features != n_in) {
			rc = cli_error("'%s' takes %zu inputs, the samples hold %zu "
			               "values", o.file, n_in, ds->features);
			goto done;
		}
		x = ds->x;
		ds->x = NULL;
		count = ds->n;
		nested = 1;
		if (ds->labels && (rc = check_labels(ds, n_out)))
			goto done;
	} else if (o.input) {
		if (spz_vectors_load(&x, &count, &nested, o.input, n_in, o.raw,
		                     &err)) {
			rc = cli_fail(&err);
			goto done;
		}
	} else if (!(x = random_vectors(&o, n_in))) {
		rc = cli_error("out of memory");
		goto done;
	}
	if (o.frac_s) {
		if (cli_parse_fracs(frac, o.frac_s, e->n_layers)) {
			rc = cli_usage("run", "--act-frac-bits takes one value "
			               "or %zu comma-separated values in %d..%d, "
			               "not '%s'", e->n_layers + 1, SPZ_FRAC_MIN,
			               SPZ_FRAC_MAX, o.frac_s);
			goto done;
		}
	} else if (spz_eie_calibrate(frac, e, x, count, &err)) {
		rc = cli_fail(&err);
		goto done;
	}
	xq = malloc(n_in * sizeof *xq);
	yq = malloc(n_out * sizeof *yq);
	y = malloc(count * n_out * sizeof *y);
	yf = malloc(n_out * sizeof *yf);
	if (!xq || !yq || !y || !yf) {
		rc = cli_error("out of memory");
		goto done;
	}
	if (o.trace_path) {
		if ((rc = open_out(&tr, o.trace_path)))
			goto done;
		tctx.f = tr.f;
		fputs("cycle,pe,event,layer,col,row\n", tr.f);
		eo.trace = trace_line;
		eo.trace_ctx = &tctx;
		eo.trace_from = o.trace_from;
		eo.trace_to = o.trace_to;
	}
	if (spz_emu_new(&emu, e, &eo, &err)) {
		rc = cli_fail(&err);
		goto done;
	}
	if (o.check) {
		ck.done = 1;
		ck.tolerance = o.tolerance;
	}
	for (size_t s = 0; s < count; s++) {
		const float *xs = x + s * n_in;
		for (size_t i = 0; i < n_in; i++)
			xq[i] = spz_to_fixed(xs[i], frac[0]);
		if (spz_emu_run(emu, yq, xq, frac, &err)) {
			/* A trace write that failed is a write error, named as
			 * spz_output_commit would name it. */
			rc = tctx.errnum
			             ? cli_error("cannot write '%s': %s",
			                         tr.path ? tr.path : "<stdout>",
			                         spz_write_error(tr.f, tctx.errnum))
			             : cli_fail(&err);
			goto done;
		}
		for (size_t i = 0; i < n_out; i++)
			y[s * n_out + i] =
				(float)spz_from_fixed(yq[i], frac[e->n_layers]);
		if (ds && ds->labels)
			correct += spz_argmax(y + s * n_out, n_out) ==
			           (size_t)ds->labels[s];
		/* Each vector takes thousands of cycles: a check per vector
		 * costs nothing beside it. */
		cli_progress("emulating", s + 1, count);
		if (o.check) {
			double a, r;
			if (spz_eie_float_forward(yf, e, xs, NULL, NULL, &err)) {
				rc = cli_fail(&err);
				goto done;
			}
			spz_output_error(&a, &r, yf, y + s * n_out, n_out);
			ck.max_abs = a > ck.max_abs ? a : ck.max_abs;
			ck.max_rel = r > ck.max_rel ? r : ck.max_rel;
		}
	}
	cli_progress_end();
	ck.passed = !o.check || ck.max_rel <= o.tolerance;
	const spz_emu_stats *st = spz_emu_stats_get(emu);
	if (o.trace_path && o.trace_from >= st->cycles) {
		rc = cli_error("--trace-cycles %" PRIu64 ":%" PRIu64 " starts "
		               "past the end of the run (%" PRIu64 " cycles)",
		               o.trace_from, o.trace_to, st->cycles);
		goto done;
	}
	if (!cli_opts.quiet)
		print_text(e, st, &o, &ck);
	if (!cli_opts.quiet && ds && ds->labels)
		fprintf(stderr, "accuracy %.2f%% (%" PRIu64 " of %zu) on the "
		        "data set's labels\n", 100.0 * (double)correct /
		        (double)count, correct, count);
	else if (!ck.passed)
		/* -q drops the statistics, not the reason for exit 3. */
		fprintf(stderr, "spz run: check failed: max rel error %.3g > "
		        "--tolerance %g (max abs error %.3g)\n", ck.max_rel,
		        ck.tolerance, ck.max_abs);
	if (cli_opts.json) {
		cJSON *j = stats_json(e, st, &o, &ck);
		if (j && ds && ds->labels) {
			cJSON_AddNumberToObject(j, "accuracy", (double)correct /
			                                       (double)count);
			cJSON_AddNumberToObject(j, "correct", (double)correct);
		} else if (j) {
			cJSON_AddNullToObject(j, "accuracy");
		}
		if ((rc = cli_print_json_to(j, cli_opts.json)))
			goto done;
	}
	if (!ck.passed) {
		rc = EXIT_CHECK;
		goto done;
	}
	if (o.out) {
		if ((rc = open_out(&out, o.out)))
			goto done;
		spz_vectors_write(out.f, y, count, n_out, nested, o.raw, &err);
		if (spz_output_commit(&out, &err)) {
			rc = cli_fail(&err);
			goto done;
		}
	}
	if (o.trace_path && spz_output_commit(&tr, &err))
		rc = cli_fail(&err);
done:
	spz_output_abort(&tr);
	spz_output_abort(&out);
	spz_emu_free(emu);
	spz_eie_free(e);
	spz_dataset_free(ds);
	free(frac);
	free(x);
	free(y);
	free(yf);
	free(xq);
	free(yq);
	return rc;
}
