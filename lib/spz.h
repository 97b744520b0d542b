/*
 * spz.h - the public interface of libspz.
 *
 * libspz holds the model IR and the algorithms of spz (pruning, weight
 * sharing, EIE packing, cost model, emulator). It does no I/O of its own:
 * readers and writers of files live in formats/ (spz_format.h).
 *
 * Conventions (every function below follows them unless it says otherwise):
 *  - Functions return 0 on success or a negative spz_err code. The codes are
 *    pinned: their values never change between releases.
 *  - Out-parameters come first. On failure they are left untouched (for
 *    pointers) or set to NULL.
 *  - Detail for a failure is written to an optional spz_error (may be NULL):
 *    one line, lowercase, no final period, as the CLI prints it.
 *  - Objects created by spz_X_new are released by spz_X_free, which accepts
 *    NULL. Strings and arrays handed to a setter are copied; pointers
 *    returned by getters stay owned by the object.
 *  - Option structs are initialized with their _INIT macro, then edited.
 *  - No global state: every function is reentrant.
 */
#ifndef SPZ_H
#define SPZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPZ_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Pinned error codes. */
typedef enum spz_err {
	SPZ_OK = 0,
	SPZ_ENOMEM = -1,      /* allocation failed */
	SPZ_EINVAL = -2,      /* bad argument or option value */
	SPZ_EIO = -3,         /* read/write/open failed (errno in the message) */
	SPZ_EFORMAT = -4,     /* malformed file: syntax, magic, layout */
	SPZ_ECRC = -5,        /* checksum mismatch */
	SPZ_EVERSION = -6,    /* unsupported format version */
	SPZ_ERANGE = -7,      /* value out of range (dims overflow, NaN, ...) */
	SPZ_ENOTFOUND = -8,   /* a named thing does not exist */
	SPZ_EEXIST = -9,      /* a name is defined twice */
	SPZ_EUNSUPPORTED = -10 /* valid, but not something this operation takes */
} spz_err;

#define SPZ_ERROR_MAX 512

/* Detail of the last failure. text is "" when no detail was given. */
typedef struct spz_error {
	int code;
	char text[SPZ_ERROR_MAX];
} spz_error;

/* Static English name of an error code ("out of memory", ...). */
const char *spz_strerror(int code);

/* Records code and a printf-style message in err (if not NULL) and returns
 * code, so that `return spz_fail(err, SPZ_EINVAL, "...")` reads naturally. */
int spz_fail(spz_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* ------------------------------------------------------------------ */
/* Deterministic PRNG                                                  */

/*
 * xoshiro256** (Blackman & Vigna) seeded by running SplitMix64 from the
 * 64-bit seed. Uniform doubles take the top 53 bits. Normals use the
 * Marsaglia polar method with spz's own logarithm built from IEEE basic
 * operations only, so a seed gives the same bytes on every machine.
 */
typedef struct spz_rng {
	uint64_t s[4];
} spz_rng;

void spz_rng_seed(spz_rng *rng, uint64_t seed);
uint64_t spz_rng_next(spz_rng *rng);
/* Uniform in [0, 1). */
double spz_rng_uniform(spz_rng *rng);
/* Uniform integer in [0, n), unbiased (n > 0). */
uint64_t spz_rng_below(spz_rng *rng, uint64_t n);
/* Standard normal. */
double spz_rng_normal(spz_rng *rng);
/* Natural logarithm of x > 0 from basic IEEE operations (deterministic). */
double spz_log(double x);

/* ------------------------------------------------------------------ */
/* Model IR                                                            */

/* ONNX TensorProto data_type values; spz stores float32 only. */
#define SPZ_DTYPE_FLOAT 1

/* Largest number of dimensions a tensor may have. */
#define SPZ_MAX_DIMS 8

/* How a tensor was pruned (spz prune fills it; NULL when never pruned). */
typedef struct spz_prune_record {
	char mode[16];     /* "magnitude", "threshold" or "nm" */
	char scope[16];    /* "layer" or "global" ("" when not applicable) */
	double target;     /* target sparsity (magnitude), else 0 */
	double threshold;  /* |w| below this was zeroed (largest pruned |w| for
	                      magnitude / nm; the given T for threshold) */
	double density;    /* achieved fraction of non-zeros */
	int nm_n, nm_m;    /* N:M pattern for mode "nm", else 0 */
} spz_prune_record;

/*
 * An initializer tensor. Row-major, dims[0] outermost.
 * Dense: data holds elements() floats; codebook == NULL.
 * Quantized: data == NULL; codebook holds codebook_size floats (entry 0 is
 * exactly 0.0), codes holds one code (< codebook_size) per element and
 * bits is the code width (1..8, codebook_size <= 2^bits).
 */
typedef struct spz_tensor {
	char *name;
	int dtype;
	int ndims;
	int64_t dims[SPZ_MAX_DIMS];
	float *data;
	int bits;
	uint32_t codebook_size;
	float *codebook;
	uint8_t *codes;
	spz_prune_record *prune;
} spz_tensor;

/* Node attribute: a number, a string, or a list of numbers. */
typedef enum spz_attr_type {
	SPZ_ATTR_NUMBER = 1,
	SPZ_ATTR_STRING = 2,
	SPZ_ATTR_NUMBERS = 3
} spz_attr_type;

typedef struct spz_attr {
	char *name;
	spz_attr_type type;
	double number;
	char *string;
	double *numbers;
	size_t n_numbers;
} spz_attr;

typedef struct spz_node {
	char *op;
	char *name;
	char **inputs;
	size_t n_inputs;
	char **outputs;
	size_t n_outputs;
	spz_attr *attrs;
	size_t n_attrs;
} spz_node;

/* A key/value parameter of a history step; value is the text as given. */
typedef struct spz_param {
	char *key;
	char *value;
} spz_param;

/* One step of provenance: what ran, with which spz and parameters. */
typedef struct spz_step {
	char *tool;    /* "gen", "prune", "quantize", ... */
	char *version; /* spz version that ran it */
	spz_param *params;
	size_t n_params;
} spz_step;

/*
 * A model: graph inputs/outputs (value names), nodes in topological order,
 * initializers and history. All arrays and strings are owned by the model.
 * Fields may be read directly; change them through the functions below so
 * that ownership stays right.
 */
typedef struct spz_model {
	char *name;
	char **inputs;
	size_t n_inputs;
	char **outputs;
	size_t n_outputs;
	spz_node *nodes;
	size_t n_nodes;
	spz_tensor *tensors;
	size_t n_tensors;
	spz_step *history;
	size_t n_history;
} spz_model;

/* Creates an empty model named name (copied; may be NULL for ""). */
int spz_model_new(spz_model **out, const char *name);
void spz_model_free(spz_model *m);

/* Appends graph input / output value names. */
int spz_model_add_input(spz_model *m, const char *value);
int spz_model_add_output(spz_model *m, const char *value);

/*
 * Appends a node. inputs/outputs are copied. *out (if not NULL) receives the
 * node, valid until the next spz_model_add_node.
 */
int spz_model_add_node(spz_node **out, spz_model *m, const char *op,
                       const char *name, const char *const *inputs,
                       size_t n_inputs, const char *const *outputs,
                       size_t n_outputs);
/* Sets (adds or replaces) a numeric / string / list attribute on a node. */
int spz_node_set_number(spz_node *n, const char *name, double v);
int spz_node_set_string(spz_node *n, const char *name, const char *v);
int spz_node_set_numbers(spz_node *n, const char *name, const double *v,
                         size_t count);
/* Attribute lookup; NULL when absent. */
const spz_attr *spz_node_attr(const spz_node *n, const char *name);
/* Numeric attribute or dflt when absent or not a number. */
double spz_node_number(const spz_node *n, const char *name, double dflt);

/*
 * Appends a dense float32 tensor with the given dims, data zero-filled
 * (data may be NULL) or copied from data. Fails with SPZ_EEXIST on a
 * duplicate name and SPZ_ERANGE on negative dims or an element count that
 * overflows. *out (if not NULL) receives the tensor, valid until the next
 * spz_model_add_tensor.
 */
int spz_model_add_tensor(spz_tensor **out, spz_model *m, const char *name,
                         const int64_t *dims, int ndims, const float *data,
                         spz_error *err);
/* Tensor by name, or NULL. */
spz_tensor *spz_model_tensor(const spz_model *m, const char *name);

/* Element count of a tensor (product of dims; 1 for a scalar). */
int64_t spz_tensor_elements(const spz_tensor *t);
/* Element count of dims, or -1 if a dim is negative or the product
 * overflows int64 or SIZE_MAX / sizeof(float). */
int64_t spz_dims_elements(const int64_t *dims, int ndims);
/* Value of element i (decodes codes through the codebook if quantized). */
float spz_tensor_value(const spz_tensor *t, int64_t i);
/* Number of non-zero elements. */
int64_t spz_tensor_nonzeros(const spz_tensor *t);
/*
 * Makes t quantized: takes ownership of codebook (size entries, [0] == 0.0)
 * and codes (elements() entries, each < size), frees data.
 */
void spz_tensor_set_quantized(spz_tensor *t, int bits, float *codebook,
                              uint32_t size, uint8_t *codes);
/* Sets (copies) the prune record; NULL clears it. */
int spz_tensor_set_prune(spz_tensor *t, const spz_prune_record *rec);

/* Appends a history step; params are key/value pairs, copied. */
int spz_model_add_step(spz_model *m, const char *tool,
                       const spz_param *params, size_t n_params);

/*
 * Checks the model's integrity: unique tensor names, every node input is a
 * graph input, an initializer or an earlier node's output (so nodes are in
 * topological order), every tensor finite, codes within their codebook.
 * The message names the tensor/node and the index at fault.
 */
int spz_model_validate(const spz_model *m, spz_error *err);

/* Is this tensor the weight (input 1) of a Gemm, MatMul or Conv node with
 * at least 2 dims? Sets *node_out (may be NULL) to that node. */
int spz_model_is_weight(const spz_model *m, const spz_tensor *t,
                        const spz_node **node_out);

/* ------------------------------------------------------------------ */
/* Generators (spz gen)                                                */

/*
 * An MLP: for dims d0,d1,...,dn, layers fcK (K = 1..n) as Gemm(transB=1)
 * with weight fcK.weight [dK, dK-1] He-initialized (normal, std
 * sqrt(2/fan_in)) and bias fcK.bias [dK] zero, Relu between layers.
 * Graph input "input" [1, d0], output "output".
 */
int spz_gen_mlp(spz_model **out, const int64_t *dims, size_t n_dims,
                uint64_t seed, spz_error *err);

/*
 * One Gemm layer [rows, cols] (weight "fc.weight", bias "fc.bias" zero) with
 * exactly round(density * rows * cols) non-zeros at uniformly random
 * positions (selection sampling), values He-normal and never 0.
 */
int spz_gen_layer(spz_model **out, int64_t rows, int64_t cols,
                  double density, uint64_t seed, spz_error *err);

/* ------------------------------------------------------------------ */
/* Number text                                                         */

/* Writes the shortest decimal text (at most 31 chars + NUL) that reads back
 * to exactly v with strtod; returns buf. */
char *spz_format_double(char buf[32], double v);
/* Same for a float: the shortest text t with (float)strtod(t) == v. */
char *spz_format_float(char buf[32], float v);

/* ------------------------------------------------------------------ */
/* 16-bit fixed point                                                  */

/*
 * A Q format is given by its fraction bits f: the int16 q stands for
 * q / 2^f. f may exceed 15 (small values) or be negative (large ones);
 * spz keeps it in SPZ_FRAC_MIN..SPZ_FRAC_MAX.
 */
#define SPZ_FRAC_MIN (-16)
#define SPZ_FRAC_MAX 40

/* The largest f such that every v[i] rounds into int16 (maximum precision
 * without overflow). n == 0 or all zeros gives SPZ_FRAC_MAX. */
int spz_fixed_frac(const float *v, size_t n);
/* v in Q(f): round half away from zero, saturate to int16. */
int16_t spz_to_fixed(double v, int frac);
/* The value q / 2^f. */
double spz_from_fixed(int32_t q, int frac);

/* ------------------------------------------------------------------ */
/* EIE image (in memory)                                               */

/* Activation applied after a layer. */
#define SPZ_ACT_NONE 0
#define SPZ_ACT_RELU 1

/*
 * One PE's share of a layer, as EIE stores it (Han et al., ISCA 2016,
 * Fig. 3): entries (code v, relative row index z) column by column, and
 * cols + 1 pointers with ptr[j+1] - ptr[j] = entries of column j, padding
 * included. The PE owns rows i with i mod pes == k, local row i / pes.
 * A padding entry has code 0 and z = 2^index_bits - 1.
 */
typedef struct spz_eie_pe {
	uint64_t n_entries;
	uint8_t *code;   /* n_entries codes; 0 means zero (padding) */
	uint8_t *index;  /* n_entries relative row indices z */
	uint32_t *ptr;   /* cols + 1 pointers, ptr[0] == 0 */
} spz_eie_pe;

/* A fully connected layer y = act(W x + b), W of dims [rows, cols]. */
typedef struct spz_eie_layer {
	/* Graph names, so that unpack rebuilds the same model. */
	char *node;        /* the Gemm/MatMul node */
	char *op;          /* "Gemm" or "MatMul" */
	int transposed;    /* weight stored [cols, rows] (MatMul, transB=0) */
	char *weight;      /* weight tensor */
	char *bias_name;   /* bias tensor, NULL when none */
	char *act_node;    /* the Relu node, NULL when none */
	char *input;       /* value consumed */
	char *linear_out;  /* output of the Gemm/MatMul node */
	char *output;      /* output of the layer (after the activation) */
	int64_t rows, cols;
	int act;           /* SPZ_ACT_* */
	int code_bits;     /* bits of a code v */
	uint32_t codebook_size;
	int16_t codebook[256]; /* entry 0 is 0 */
	int codebook_frac;     /* Q format of the codebook */
	int16_t *bias;         /* rows entries, NULL when no bias */
	int bias_frac;         /* Q format of the bias */
	uint64_t nonzeros;     /* real entries */
	uint64_t padding;      /* padding entries */
	spz_eie_pe *pe;        /* pes entries */
} spz_eie_layer;

typedef struct spz_eie {
	uint32_t pes;
	int index_bits;
	char *name;        /* model name */
	size_t n_layers;
	spz_eie_layer *layers;
} spz_eie;

typedef struct spz_eie_options {
	uint32_t pes;      /* 1..4096, default 64 */
	int index_bits;    /* 2..8, default 4 */
} spz_eie_options;
#define SPZ_EIE_OPTIONS_INIT {64, 4}

/*
 * Packs a quantized model whose layers form a chain of Gemm/MatMul nodes
 * (optional bias, optional Relu after each) into an EIE image. Refuses
 * (SPZ_EUNSUPPORTED) any other node, a branch or an unquantized weight,
 * naming the node and what to do. Memory: O(non-zeros + pes * cols).
 */
int spz_eie_pack(spz_eie **out, const spz_model *m,
                 const spz_eie_options *opts, spz_error *err);
void spz_eie_free(spz_eie *e);
/* Entries per local row span: the largest z (2^index_bits - 1). */
#define SPZ_EIE_MAX_Z(e) ((1u << (e)->index_bits) - 1)
/* Rows of layer l that PE k owns. */
int64_t spz_eie_pe_rows(const spz_eie *e, const spz_eie_layer *l,
                        uint32_t k);

/*
 * Analytical work of one PE on a layer, in cycles: for every broadcast
 * column j (active[j] != 0, or every column when active is NULL) the PE
 * spends max(1, entries of column j in its slice): entries stream at one
 * per cycle, padding included, and an empty column still costs its pointer
 * read. This is the model behind `spz report`'s estimate; `spz run` steps
 * the micro-architecture instead.
 */
uint64_t spz_eie_pe_work(const spz_eie *e, const spz_eie_layer *l,
                         uint32_t k, const uint8_t *active);

/* ------------------------------------------------------------------ */
/* Energy                                                              */

/*
 * Energy per operation or access in pJ, 45 nm (EIE Table I, Deep
 * Compression section 1), and the rules that scale it to narrower widths:
 *  - adds scale linearly with width (a 16-bit add is half a 32-bit one);
 *  - a 16-bit fixed-point multiply costs int_mult_16 (EIE: 5x less than a
 *    32-bit fixed-point one); narrower multiplies scale with the square of
 *    the width from there (array multiplier area);
 *  - SRAM and DRAM accesses scale linearly with the bits moved (EIE reads
 *    a 64-bit SRAM row holding eight 8-bit entries).
 * Every entry can be overridden (spz_energy_load in spz_format.h).
 */
typedef struct spz_energy_table {
	double int_add_32;    /* 32-bit integer add: 0.1 */
	double float_add_32;  /* 32-bit float add: 0.9 */
	double int_mult_32;   /* 32-bit integer multiply: 3.1 */
	double float_mult_32; /* 32-bit float multiply: 3.7 */
	double int_mult_16;   /* 16-bit fixed-point multiply: 3.1 / 5 */
	double sram_read_32;  /* 32-bit read from a 32 KB SRAM: 5 */
	double dram_read_32;  /* 32-bit DRAM read: 640 */
} spz_energy_table;
#define SPZ_ENERGY_TABLE_INIT {0.1, 0.9, 3.1, 3.7, 0.62, 5.0, 640.0}

/* Integer add of `bits` bits. */
double spz_energy_add(const spz_energy_table *t, int bits);
/* Fixed-point multiply of `bits` bits (32 and above: int_mult_32). */
double spz_energy_mult(const spz_energy_table *t, int bits);
/* SRAM / DRAM read of `bits` bits. */
double spz_energy_sram(const spz_energy_table *t, double bits);
double spz_energy_dram(const spz_energy_table *t, double bits);

/* Each module adds its section below its own marker line. */

/* @@ prune @@ */

/* ------------------------------------------------------------------ */
/* Pruning (spz prune)                                                 */

/* What happened to one tensor (or one span of floats). */
typedef struct spz_prune_stats {
	int64_t elements;
	int64_t nonzeros_before;
	int64_t nonzeros_after;
	float threshold;  /* magnitude: the k-th smallest |w| of all spans,
	                     the last one pruned (0 when k = 0); N:M: the
	                     largest |w| zeroed; threshold: the given t */
} spz_prune_stats;

/*
 * Magnitude pruning of count spans w[i][0..n[i]) ranked together: zeroes
 * exactly the k smallest |w| of all of them (k <= sum of n). Ties in |w|
 * are broken by position, spans in order then flat index: the lower
 * position is kept first. Elements that are already zero are the smallest,
 * so when more than k are zero nothing else is touched. One span is
 * per-layer pruning; several spans are global pruning (one threshold) and
 * are never concatenated. stats receives count entries.
 * Algorithm: an evenly spaced sample brackets the k-th |w|, one pass
 * counts below and gathers the few in the bracket, a radix select on the
 * float bits finishes (radix histogram passes over the spans when the
 * bracket misses); extra memory at most an eighth of the elements' bytes
 * plus 1 MB. Then one pass zeroes: O(n), no sorting. The floats must
 * not be NaN (validated models never are).
 * Fails with SPZ_EINVAL when k is out of range, SPZ_ENOMEM.
 */
int spz_prune_magnitude(spz_prune_stats *stats, float *const *w,
                        const int64_t *n, size_t count, int64_t k,
                        spz_error *err);

/* Zeroes every element with |w| < t (t >= 0); stats->threshold = t. */
int spz_prune_threshold(spz_prune_stats *stats, float *w, int64_t n,
                        float t, spz_error *err);

/* What N:M pruning does with the last group along the reduction dimension
 * when that dimension is not a multiple of M. */
typedef enum spz_nm_partial {
	SPZ_NM_PARTIAL_REFUSE = 0, /* fail with SPZ_EUNSUPPORTED */
	SPZ_NM_PARTIAL_KEEP = 1,   /* leave the short group as it is */
	SPZ_NM_PARTIAL_PRUNE = 2   /* keep its N largest, as if zero-padded */
} spz_nm_partial;

/*
 * N:M structured pruning of a tensor of dims (row-major): along dimension
 * dim, every group of m consecutive elements (other indices fixed) keeps
 * its n largest |w| and the rest become zero; ties keep the lower index.
 * 1 <= n < m <= 16. One pass over the data. SPZ_EINVAL for bad arguments,
 * SPZ_EUNSUPPORTED when dims[dim] % m != 0 and partial is REFUSE.
 */
int spz_prune_nm(spz_prune_stats *stats, float *w, const int64_t *dims,
                 int ndims, int dim, int n, int m, spz_nm_partial partial,
                 spz_error *err);

/* 1 when every group of m consecutive elements along dim (a short last
 * group included) has at most n non-zeros, else 0. Works on dense and
 * quantized tensors; 0 for bad arguments. */
int spz_tensor_nm_holds(const spz_tensor *t, int dim, int n, int m);

/* The reduction (input) dimension of a weight: the last for Gemm
 * transB=1 ([out, in]), the first for Gemm transB=0, ndims-2 for MatMul
 * ([..., in, out]), 1 for Conv ([O, I, kh, kw]); -1 when t is not the
 * weight of such a node (spz_model_is_weight). */
int spz_model_reduction_dim(const spz_model *m, const spz_tensor *t);

/* Pruning modes. */
typedef enum spz_prune_mode {
	SPZ_PRUNE_MAGNITUDE = 1, /* round(S * n) smallest |w| per tensor */
	SPZ_PRUNE_THRESHOLD = 2, /* |w| < T */
	SPZ_PRUNE_NM = 3         /* N:M along the reduction dimension */
} spz_prune_mode;

typedef struct spz_prune_options {
	spz_prune_mode mode;
	int global;           /* magnitude: rank all items together with
	                         target sparsity .sparsity */
	double sparsity;      /* global magnitude target, 0 <= S < 1 */
	double threshold;     /* threshold mode, T >= 0 */
	int nm_n, nm_m;       /* N:M pattern */
	spz_nm_partial nm_partial;
} spz_prune_options;
#define SPZ_PRUNE_OPTIONS_INIT \
	{SPZ_PRUNE_MAGNITUDE, 0, 0.5, 0.0, 2, 4, SPZ_NM_PARTIAL_REFUSE}

/* One tensor of a model to prune, and what happened to it. */
typedef struct spz_prune_item {
	spz_tensor *tensor;   /* in: a tensor of the model */
	double sparsity;      /* in: per-layer magnitude target, 0 <= S < 1 */
	spz_prune_stats stats; /* out */
} spz_prune_item;

/* SPZ_EUNSUPPORTED when m cannot be pruned: a tensor is quantized
 * (pruning after weight sharing would change the shared values and codes;
 * prune before quantize). */
int spz_prune_check_model(const spz_model *m, spz_error *err);

/*
 * Prunes the items' tensors of m in place and sets each one's prune record
 * (mode, scope, target, threshold, achieved density, N:M). Everything is
 * checked before any tensor changes, so on failure m is untouched:
 * SPZ_EINVAL for bad options or an item that is not a tensor of m,
 * SPZ_EUNSUPPORTED for a quantized model (pruning after weight sharing
 * would change the shared values and codes: prune first), for N:M on a
 * tensor with no known reduction dimension or whose reduction dimension is
 * not a multiple of M (unless nm_partial says what to do). Adding the
 * history step is left to the caller, which knows the parameters as given.
 */
int spz_prune_model(spz_model *m, spz_prune_item *items, size_t n_items,
                    const spz_prune_options *opts, spz_error *err);

/* @@ quantize @@ */

/* @@ pack @@ */

/* @@ report @@ */

/* @@ run @@ */


#ifdef __cplusplus
}
#endif

#endif
