/*
 * train.c - spz train: an MLP (the graph of `spz gen mlp`) trained on a
 * data set with softmax cross-entropy; and the run that spz finetune
 * shares: options, train/test data, progress on a terminal, the per-epoch
 * --json log, the history step.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train.h"

enum { OPT_EPOCHS = 0x2000, OPT_BATCH, OPT_LR, OPT_OPTIM, OPT_SCHED,
       OPT_MOMENTUM, OPT_SEED, OPT_DIMS, OPT_JSON, OPT_TO, OPT_WD };

/* Defaults: a fresh model learns fast; a compressed one only adjusts. */
#define TRAIN_EPOCHS 20
#define TRAIN_LR 1e-3
#define FINETUNE_EPOCHS 3
#define FINETUNE_LR 1e-3

int train_parse(struct train_req *r, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_DATA_LONGOPTS,
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, OPT_TO},
		{"epochs", required_argument, 0, OPT_EPOCHS},
		{"batch", required_argument, 0, OPT_BATCH},
		{"lr", required_argument, 0, OPT_LR},
		{"optimizer", required_argument, 0, OPT_OPTIM},
		{"schedule", required_argument, 0, OPT_SCHED},
		{"momentum", required_argument, 0, OPT_MOMENTUM},
		{"weight-decay", required_argument, 0, OPT_WD},
		{"seed", required_argument, 0, OPT_SEED},
		{"dims", required_argument, 0, OPT_DIMS},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	const char *cmd = r->cmd;
	int ft = !strcmp(cmd, "finetune");
	spz_data_options dd = SPZ_DATA_OPTIONS_INIT;
	spz_train_options dt = SPZ_TRAIN_OPTIONS_INIT;
	r->data = dd;
	r->data.split = "train";
	r->opts = dt;
	r->opts.epochs = ft ? FINETUNE_EPOCHS : TRAIN_EPOCHS;
	r->opts.lr = ft ? FINETUNE_LR : TRAIN_LR;
	r->opts.seed = 1;
	if (ft)
		r->opts.flags |= SPZ_TRAIN_KEEP;
	r->in = "-";
	r->out = "-";
	int c;
	int64_t v;
	double d;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (c == OPT_SPLIT)
			return cli_usage(cmd, "--split does not apply: spz %s "
			                 "learns from DIR's train split and tests "
			                 "on t10k", cmd);
		int t = cli_data_option(&r->data, cmd, c, optarg);
		if (t < 0)
			return EXIT_USAGE;
		if (t)
			continue;
		switch (c) {
		case 'o': r->out = optarg; break;
		case OPT_TO: r->to = optarg; break;
		case 'q':
		case 'v':
		case CLI_OPT_WIDE:
		case CLI_OPT_JSON:
		case CLI_OPT_EXTERNAL_DATA:
			cli_common_opt(c, optarg);
			r->quiet = cli_opts.quiet;
			r->json = cli_opts.json;
			break;
		case OPT_DIMS:
			if (ft)
				return cli_usage(cmd, "--dims is for spz train; "
				                 "finetune keeps the model's layers");
			r->dims_s = optarg;
			break;
		case OPT_EPOCHS:
			if (cli_int_range(&v, cmd, "--epochs", optarg, 1, 100000))
				return EXIT_USAGE;
			r->opts.epochs = (size_t)v;
			break;
		case OPT_BATCH:
			if (cli_int_range(&v, cmd, "--batch", optarg, 1, 1 << 20))
				return EXIT_USAGE;
			r->opts.batch = (size_t)v;
			break;
		case OPT_LR:
			if (cli_parse_double(optarg, &d) || !(d > 0) ||
			    !isfinite(d))
				return cli_usage(cmd, "--lr takes a number above 0, "
				                 "not '%s'", optarg);
			r->opts.lr = d;
			r->lr_given = 1;
			break;
		case OPT_MOMENTUM:
			if (cli_parse_double(optarg, &d) || !(d >= 0 && d < 1))
				return cli_usage(cmd, "--momentum takes a number in "
				                 "[0, 1), not '%s'", optarg);
			r->opts.momentum = d;
			break;
		case OPT_WD:
			if (cli_parse_double(optarg, &d) || !(d >= 0) ||
			    !isfinite(d))
				return cli_usage(cmd, "--weight-decay takes a number "
				                 ">= 0, not '%s'", optarg);
			r->opts.weight_decay = d;
			break;
		case OPT_OPTIM:
			if (!strcmp(optarg, "sgd"))
				r->opts.optimizer = SPZ_OPTIM_SGD;
			else if (!strcmp(optarg, "adam"))
				r->opts.optimizer = SPZ_OPTIM_ADAM;
			else
				return cli_usage(cmd, "--optimizer takes sgd or adam, "
				                 "not '%s'", optarg);
			break;
		case OPT_SCHED:
			if (!strcmp(optarg, "cosine"))
				r->opts.schedule = SPZ_LR_COSINE;
			else if (!strcmp(optarg, "constant"))
				r->opts.schedule = SPZ_LR_CONSTANT;
			else
				return cli_usage(cmd, "--schedule takes cosine or "
				                 "constant, not '%s'", optarg);
			break;
		case OPT_SEED:
			if (cli_seed(&r->opts.seed, cmd, optarg))
				return EXIT_USAGE;
			break;
		default:
			return cli_opt_error(cmd, c, argv, opts);
		}
	}
	if (ft) {
		if (argc - optind > 1)
			return cli_usage(cmd, "expected at most one model file");
		if (optind < argc)
			r->in = argv[optind];
	} else {
		if (optind < argc)
			return cli_usage(cmd, "unexpected '%s': spz train makes its "
			                 "model from --dims", argv[optind]);
		if (!r->dims_s)
			return cli_usage(cmd, "give the layers: --dims "
			                 "D0,D1,...,Dn (e.g. 784,300,100,10)");
	}
	/* An SGD step is not an Adam step: its own default rate. */
	if (!r->lr_given && r->opts.optimizer == SPZ_OPTIM_SGD)
		r->opts.lr = ft ? 1e-3 : 0.05;
	/* The default split is DIR's; with --x there is no DIR (the check
	 * below would take the default for a --split given with --x). */
	if (r->data.x)
		r->data.split = NULL;
	if (!(r->opts.lr * r->opts.weight_decay < 1))
		return cli_usage(cmd, "--weight-decay %g times --lr %g is %g: "
		                 "a step would scale the weights by %g (the "
		                 "product must be below 1)",
		                 r->opts.weight_decay, r->opts.lr,
		                 r->opts.lr * r->opts.weight_decay,
		                 1 - r->opts.lr * r->opts.weight_decay);
	int rc = cli_data_check(&r->data, cmd);
	if (!rc)
		rc = cli_report_paths(cmd, r->json, r->out);
	return rc;
}

struct log {
	cJSON *epochs;        /* NULL without --json */
	int tty, quiet;
	double t0, tlast, delay;
	size_t last_step;
	spz_train_progress final;
	const char *cmd;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int on_progress(void *ctx, const spz_train_progress *p)
{
	struct log *lg = ctx;
	double t = now();
	if (!p->epoch_end) {
		/* About four updates a second are enough for a person. */
		if (lg->tty && t - lg->t0 >= lg->delay &&
		    t - lg->tlast > 0.25) {
			/* Percent and ETA of the whole run, by steps. */
			double all = (double)p->epochs * (double)p->steps;
			double frac = all > 0 ? ((double)(p->epoch - 1) *
			                         (double)p->steps +
			                         (double)p->step) / all : 0;
			char eta[32];
			cli_eta_text(eta, sizeof eta, t - lg->t0, frac);
			fprintf(stderr, "\r\033[K%s %3d%%%s  epoch %zu/%zu  loss "
			        "%.4f  train %.2f%%", lg->cmd, (int)(100 * frac),
			        eta, p->epoch, p->epochs, p->loss,
			        100 * p->train_accuracy);
			lg->tlast = t;
		}
		return 0;
	}
	lg->final = *p;
	if (lg->tty) {
		fprintf(stderr, "\r\033[Kepoch %zu/%zu  loss %.4f  train %.2f%%",
		        p->epoch, p->epochs, p->loss, 100 * p->train_accuracy);
		if (p->test_accuracy >= 0)
			fprintf(stderr, "  test %.2f%%", 100 * p->test_accuracy);
		fprintf(stderr, "  %.1f s\n", t - lg->t0);
	}
	if (lg->epochs) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "epoch", (double)p->epoch);
		cJSON_AddNumberToObject(e, "lr", p->lr);
		cJSON_AddNumberToObject(e, "loss", p->loss);
		cJSON_AddNumberToObject(e, "train_accuracy", p->train_accuracy);
		if (p->test_accuracy >= 0) {
			cJSON_AddNumberToObject(e, "test_accuracy",
			                        p->test_accuracy);
			cJSON_AddNumberToObject(e, "test_loss", p->test_loss);
		} else {
			cJSON_AddNullToObject(e, "test_accuracy");
			cJSON_AddNullToObject(e, "test_loss");
		}
		cJSON_AddNumberToObject(e, "seconds", t - lg->t0);
		cJSON_AddItemToArray(lg->epochs, e);
	}
	return 0;
}

static const char *kind_text(const spz_train_param *p)
{
	switch (p->kind) {
	case SPZ_PARAM_MASKED: return "mask";
	case SPZ_PARAM_CODEBOOK: return "codes";
	default: return "none";
	}
}

/* What the run kept, per tensor: the finetune's promise made visible. */
static void print_kept(const spz_train_param *ps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const spz_train_param *p = &ps[i];
		double pct = 100.0 * (double)p->nonzeros / (double)p->elements;
		if (p->kind == SPZ_PARAM_MASKED)
			fprintf(stderr, "%-24s mask kept: %lld of %lld non-zero "
			        "(%.1f%%)\n", p->tensor, (long long)p->nonzeros,
			        (long long)p->elements, pct);
		else if (p->kind == SPZ_PARAM_CODEBOOK)
			fprintf(stderr, "%-24s codes kept: %zu centroids trained, "
			        "code 0 stays 0\n", p->tensor, p->n - 1);
		else
			fprintf(stderr, "%-24s trained freely%s\n", p->tensor,
			        p->is_bias ? " (bias)" : " (dense)");
	}
}

static cJSON *report(const struct train_req *r, struct log *lg,
                     const spz_train_param *ps, size_t n, size_t ntrain,
                     size_t ntest)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "command", r->cmd);
	cJSON_AddNumberToObject(j, "train_samples", (double)ntrain);
	cJSON_AddNumberToObject(j, "test_samples", (double)ntest);
	cJSON_AddStringToObject(j, "optimizer", r->opts.optimizer ==
	                        SPZ_OPTIM_ADAM ? "adam" : "sgd");
	cJSON_AddNumberToObject(j, "lr", r->opts.lr);
	cJSON_AddStringToObject(j, "schedule", r->opts.schedule ==
	                        SPZ_LR_COSINE ? "cosine" : "constant");
	cJSON_AddNumberToObject(j, "batch", (double)r->opts.batch);
	cJSON_AddNumberToObject(j, "seed", (double)r->opts.seed);
	cJSON_AddItemToObject(j, "epochs", lg->epochs);
	lg->epochs = NULL;
	cJSON *ts = cJSON_AddArrayToObject(j, "tensors");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", ps[i].tensor);
		cJSON_AddStringToObject(o, "kept", kind_text(&ps[i]));
		cJSON_AddNumberToObject(o, "elements", (double)ps[i].elements);
		cJSON_AddNumberToObject(o, "nonzeros", (double)ps[i].nonzeros);
		cJSON_AddNumberToObject(o, "parameters", (double)ps[i].n);
		cJSON_AddItemToArray(ts, o);
	}
	return j;
}

static int add_step(spz_model *m, const struct train_req *r, size_t ntrain)
{
	char ep[32], bs[32], lr[32], sd[32], nt[32], mo[32], wd[32];
	snprintf(ep, sizeof ep, "%zu", r->opts.epochs);
	snprintf(bs, sizeof bs, "%zu", r->opts.batch);
	snprintf(lr, sizeof lr, "%.17g", r->opts.lr);
	snprintf(sd, sizeof sd, "%llu", (unsigned long long)r->opts.seed);
	snprintf(nt, sizeof nt, "%zu", ntrain);
	snprintf(mo, sizeof mo, "%.17g", r->opts.momentum);
	snprintf(wd, sizeof wd, "%.17g", r->opts.weight_decay);
	int sgd = r->opts.optimizer == SPZ_OPTIM_SGD;
	spz_param ps[10] = {
		{"data", (char *)(r->data.dir ? r->data.dir : r->data.x)},
		{"samples", nt},
		{"epochs", ep},
		{"batch", bs},
		{"optimizer", sgd ? "sgd" : "adam"},
		{"lr", lr},
		{"schedule", r->opts.schedule == SPZ_LR_COSINE ? "cosine"
		                                                : "constant"},
		{"seed", sd},
		{"momentum", mo}};
	size_t np = sgd ? 9 : 8;
	/* Only when given: the history of runs without it stays as it was. */
	if (r->opts.weight_decay > 0) {
		ps[np].key = "weight_decay";
		ps[np].value = wd;
		np++;
	}
	if (spz_model_add_step(m, r->cmd, ps, np))
		return cli_error("out of memory");
	return 0;
}

int train_run(struct train_req *r, spz_model *m)
{
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, r->cmd, r->to, r->out);
	if (rc)
		return rc;
	spz_dataset *train = NULL, *test = NULL;
	spz_trainer *t = NULL;
	spz_error err = {0};
	struct log lg = {0};
	lg.cmd = r->cmd;
	lg.tty = isatty(2) && !r->quiet;
	if ((rc = cli_data_load(&train, &r->data)))
		return rc;
	if (r->data.dir) {
		/* The test split is optional: without it, no test accuracy. */
		spz_data_options to = r->data;
		to.split = "t10k";
		to.limit = 0;
		int e = spz_dataset_load(&test, &to, &err);
		if (e && e != SPZ_ENOTFOUND) {
			rc = cli_error("%s", err.text);
			goto done;
		}
	}
	if (!train->labels) {
		rc = cli_error("the training data has no labels: give --y FILE");
		goto done;
	}
	if (r->json)
		lg.epochs = cJSON_CreateArray();
	r->opts.progress = on_progress;
	r->opts.progress_ctx = &lg;
	if (spz_trainer_new(&t, m, train->features, &r->opts, &err)) {
		if (!strcmp(r->cmd, "train") && err.code == SPZ_EUNSUPPORTED)
			rc = cli_error("the data has %zu features per sample, "
			               "--dims starts with %s", train->features,
			               r->dims_s);
		else if (!strcmp(r->cmd, "train"))
			rc = cli_fail(&err);
		else
			rc = cli_error("cannot finetune '%s': %s",
			               strcmp(r->in, "-") ? r->in : "<stdin>",
			               err.text);
		goto done;
	}
	lg.t0 = now();
	lg.tlast = 0;
	lg.delay = cli_progress_delay();
	if (spz_trainer_fit(t, train, test, &err)) {
		if (lg.tty)
			fprintf(stderr, "\r\033[K");
		rc = cli_error("%s: nothing written", err.text);
		goto done;
	}
	double secs = now() - lg.t0;
	size_t np;
	const spz_train_param *ps = spz_trainer_params(t, &np);
	if (spz_trainer_write(t, m, &err) || spz_model_validate(m, &err)) {
		rc = cli_fail(&err);
		goto done;
	}
	if ((rc = add_step(m, r, train->n)))
		goto done;
	cJSON *j = r->json ? report(r, &lg, ps, np, train->n,
	                            test ? test->n : 0)
	                   : NULL;
	if ((rc = cli_save_with_report(m, r->out, kind, r->json, j)))
		goto done;
	if (!r->quiet) {
		if (!strcmp(r->cmd, "finetune"))
			print_kept(ps, np);
		fprintf(stderr, "spz %s: %zu epoch%s on %zu samples in %.1f s, "
		        "loss %.4f, train %.2f%%", r->cmd, r->opts.epochs,
		        r->opts.epochs == 1 ? "" : "s", train->n, secs,
		        lg.final.loss, 100 * lg.final.train_accuracy);
		if (lg.final.test_accuracy >= 0)
			fprintf(stderr, ", test %.2f%% on %zu", 100 *
			        lg.final.test_accuracy, test->n);
		fprintf(stderr, "\n");
	}
done:
	cJSON_Delete(lg.epochs);
	spz_trainer_free(t);
	spz_dataset_free(train);
	spz_dataset_free(test);
	return rc;
}

int cmd_train(int argc, char **argv)
{
	struct train_req r = {.cmd = "train"};
	int rc = train_parse(&r, argc, argv);
	if (rc)
		return rc;
	int64_t dims[64];
	size_t n;
	if (cli_parse_list(r.dims_s, dims, 64, &n) || n < 2)
		return cli_usage("train", "--dims takes 2 to 64 comma-separated "
		                 "integers, not '%s'", r.dims_s);
	spz_model *m = NULL;
	spz_error err = {0};
	if (spz_gen_mlp(&m, dims, n, r.opts.seed, &err))
		return cli_fail(&err);
	rc = train_run(&r, m);
	spz_model_free(m);
	return rc;
}
