/*
 * gen.c - synthetic models: the He-initialized MLP of the samples and the
 * random sparse layers accelerator papers benchmark on.
 */
#include "spz.h"

#include <math.h>
#include <stdio.h>

/* A He-normal weight that is never exactly zero as a float. */
static float he_value(spz_rng *rng, double std)
{
	float v;
	do
		v = (float)(spz_rng_normal(rng) * std);
	while (v == 0.0f);
	return v;
}

/* Appends Gemm(transB=1) named prefix, weight [rows, cols] + zero bias. */
static int add_gemm(spz_model *m, const char *prefix, const char *in,
                    const char *out, int64_t rows, int64_t cols,
                    spz_tensor **w, spz_error *err)
{
	char wname[64], bname[64];
	snprintf(wname, sizeof wname, "%s.weight", prefix);
	snprintf(bname, sizeof bname, "%s.bias", prefix);
	int64_t wd[2] = {rows, cols};
	int rc = spz_model_add_tensor(NULL, m, wname, wd, 2, NULL, err);
	if (!rc)
		rc = spz_model_add_tensor(NULL, m, bname, &rows, 1, NULL, err);
	if (rc)
		return rc;
	*w = spz_model_tensor(m, wname);
	const char *ins[3] = {in, wname, bname};
	spz_node *node;
	if (spz_model_add_node(&node, m, "Gemm", prefix, ins, 3, &out, 1) ||
	    spz_node_set_number(node, "transB", 1))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	return 0;
}

static int check_dim(int64_t d, spz_error *err)
{
	if (d < 1 || d > (INT64_C(1) << 31))
		return spz_fail(err, SPZ_EINVAL,
		                "dimension %lld is outside 1..2147483648",
		                (long long)d);
	return 0;
}

/* Progress: one report every this many weights (and at the end). */
#define GEN_STEP (UINT64_C(1) << 22)

int spz_gen_mlp(spz_model **out, const int64_t *dims, size_t n_dims,
                uint64_t seed, spz_error *err)
{
	spz_gen_options o = SPZ_GEN_OPTIONS_INIT;
	o.seed = seed;
	return spz_gen_mlp_opts(out, dims, n_dims, &o, err);
}

int spz_gen_layer(spz_model **out, int64_t rows, int64_t cols,
                  double density, uint64_t seed, spz_error *err)
{
	spz_gen_options o = SPZ_GEN_OPTIONS_INIT;
	o.seed = seed;
	return spz_gen_layer_opts(out, rows, cols, density, &o, err);
}

int spz_gen_mlp_opts(spz_model **out, const int64_t *dims, size_t n_dims,
                     const spz_gen_options *o, spz_error *err)
{
	const spz_gen_options d = SPZ_GEN_OPTIONS_INIT, *opts = o ? o : &d;
	uint64_t seed = opts->seed;
	if (n_dims < 2)
		return spz_fail(err, SPZ_EINVAL,
		                "an MLP needs at least 2 dims (input and output)");
	for (size_t i = 0; i < n_dims; i++)
		if (check_dim(dims[i], err))
			return SPZ_EINVAL;
	spz_model *m;
	if (spz_model_new(&m, "mlp"))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	spz_rng rng;
	spz_rng_seed(&rng, seed);
	int rc = spz_model_add_input(m, "input");
	char prev[64] = "input";
	double total = 0, done = 0;
	for (size_t l = 1; l < n_dims; l++)
		total += (double)dims[l] * (double)dims[l - 1];
	for (size_t l = 1; !rc && l < n_dims; l++) {
		char prefix[32], y[64];
		snprintf(prefix, sizeof prefix, "fc%zu", l);
		snprintf(y, sizeof y, l + 1 < n_dims ? "%s.out" : "output",
		         prefix);
		spz_tensor *w;
		rc = add_gemm(m, prefix, prev, y, dims[l], dims[l - 1], &w, err);
		if (rc)
			break;
		double std = sqrt(2.0 / (double)dims[l - 1]);
		int64_t n = dims[l] * dims[l - 1];
		for (int64_t i = 0; i < n; i++) {
			w->data[i] = he_value(&rng, std);
			if (opts->progress && !((uint64_t)(i + 1) % GEN_STEP))
				opts->progress(opts->progress_ctx,
				               done + (double)(i + 1), total);
		}
		done += (double)n;
		if (opts->progress)
			opts->progress(opts->progress_ctx, done, total);
		if (l + 1 < n_dims) {
			char r[64], rn[32];
			snprintf(r, sizeof r, "relu%zu.out", l);
			snprintf(rn, sizeof rn, "relu%zu", l);
			const char *yin = y, *rout = r;
			if (spz_model_add_node(NULL, m, "Relu", rn, &yin, 1,
			                       &rout, 1))
				rc = SPZ_ENOMEM;
			snprintf(prev, sizeof prev, "%s", r);
		}
	}
	if (!rc)
		rc = spz_model_add_output(m, "output");
	char buf[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < n_dims && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld",
		                        i ? "," : "", (long long)dims[i]);
	char sbuf[32];
	snprintf(sbuf, sizeof sbuf, "%llu", (unsigned long long)seed);
	spz_param p[] = {{"kind", "mlp"}, {"dims", buf}, {"seed", sbuf}};
	if (!rc)
		rc = spz_model_add_step(m, "gen", p, 3);
	if (rc) {
		spz_model_free(m);
		return rc == SPZ_ENOMEM ? spz_fail(err, rc, "out of memory")
		                        : rc;
	}
	*out = m;
	return 0;
}

int spz_gen_layer_opts(spz_model **out, int64_t rows, int64_t cols,
                       double density, const spz_gen_options *o,
                       spz_error *err)
{
	const spz_gen_options d = SPZ_GEN_OPTIONS_INIT, *opts = o ? o : &d;
	uint64_t seed = opts->seed;
	if (check_dim(rows, err) || check_dim(cols, err))
		return SPZ_EINVAL;
	if (!(density >= 0 && density <= 1))
		return spz_fail(err, SPZ_EINVAL,
		                "density %g is outside [0, 1]", density);
	if (spz_dims_elements((int64_t[]){rows, cols}, 2) < 0)
		return spz_fail(err, SPZ_ERANGE, "%lld x %lld is too large",
		                (long long)rows, (long long)cols);
	spz_model *m;
	if (spz_model_new(&m, "layer"))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	spz_tensor *w;
	int rc = spz_model_add_input(m, "input");
	if (!rc)
		rc = add_gemm(m, "fc", "input", "output", rows, cols, &w, err);
	if (!rc)
		rc = spz_model_add_output(m, "output");
	if (!rc) {
		spz_rng rng;
		spz_rng_seed(&rng, seed);
		uint64_t n = (uint64_t)(rows * cols);
		uint64_t need = (uint64_t)llround(density * (double)n);
		double std = sqrt(2.0 / (double)cols);
		/* Selection sampling (Knuth's Algorithm S): position i is
		 * taken with probability need_left / positions_left, which
		 * yields exactly `need` uniformly placed positions. */
		for (uint64_t i = 0; i < n && need; i++) {
			if (spz_rng_below(&rng, n - i) < need) {
				w->data[i] = he_value(&rng, std);
				need--;
			}
			if (opts->progress && !((i + 1) % GEN_STEP))
				opts->progress(opts->progress_ctx,
				               (double)(i + 1), (double)n);
		}
		if (opts->progress)
			opts->progress(opts->progress_ctx, (double)n,
			               (double)(n ? n : 1));
		char r[32], c[32], d[32], s[32];
		snprintf(r, sizeof r, "%lld", (long long)rows);
		snprintf(c, sizeof c, "%lld", (long long)cols);
		spz_format_double(d, density);
		snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
		spz_param p[] = {{"kind", "layer"}, {"rows", r}, {"cols", c},
		                 {"density", d}, {"seed", s}};
		rc = spz_model_add_step(m, "gen", p, 5);
	}
	if (rc) {
		spz_model_free(m);
		return rc == SPZ_ENOMEM ? spz_fail(err, rc, "out of memory")
		                        : rc;
	}
	*out = m;
	return 0;
}
