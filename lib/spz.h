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
/* Progress                                                            */

/*
 * The progress hook of the long-running functions: their option structs
 * carry `progress` and `progress_ctx` (NULL: no hook). The library calls
 * progress(progress_ctx, done, total) from the working thread now and
 * then, at points fixed by the data (never by the clock, so the work is
 * deterministic), with 0 <= done <= total and total > 0; done never goes
 * back within one call of a library function. It prints nothing: what to
 * show, and when, is the caller's. Where the amount of work is not known
 * ahead (Lloyd's steps to convergence), done is an estimate.
 */
typedef void (*spz_progress_fn)(void *ctx, double done, double total);

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

/*
 * ONNX TensorProto data_type values (pinned by ONNX). FLOAT, FLOAT16,
 * BFLOAT16 and DOUBLE tensors are "float-like": the IR holds their values
 * as float32 in data and remembers dtype so that a writer can give them
 * back in their own type. Every other type is carried, never interpreted
 * by the algorithms: its elements are kept as the little-endian bytes ONNX
 * raw_data stores (raw, raw_len).
 */
#define SPZ_DTYPE_FLOAT 1
#define SPZ_DTYPE_UINT8 2
#define SPZ_DTYPE_INT8 3
#define SPZ_DTYPE_UINT16 4
#define SPZ_DTYPE_INT16 5
#define SPZ_DTYPE_INT32 6
#define SPZ_DTYPE_INT64 7
#define SPZ_DTYPE_STRING 8
#define SPZ_DTYPE_BOOL 9
#define SPZ_DTYPE_FLOAT16 10
#define SPZ_DTYPE_DOUBLE 11
#define SPZ_DTYPE_UINT32 12
#define SPZ_DTYPE_UINT64 13
#define SPZ_DTYPE_BFLOAT16 16

/* 1 when dtype is held as float32 in spz_tensor.data (see above). */
int spz_dtype_is_float(int dtype);
/* Bytes of one element of a fixed-size dtype; 0 for STRING and for types
 * spz does not know. */
int spz_dtype_size(int dtype);

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
 * Raw (dtype not float-like, see spz_dtype_is_float): data and codebook
 * are NULL; raw holds raw_len bytes, the elements little-endian as ONNX
 * raw_data stores them (for a fixed-size dtype raw_len is elements times
 * spz_dtype_size). Raw tensors are never pruned, quantized or packed.
 * Sparse (only where a caller asked for it: spz_input.keep_sparse,
 * spz_prune_options.sparse_out): mask != NULL; bit i % 64 of mask[i / 64]
 * is set exactly when element i is stored (row-major order; the words of
 * a tensor of n elements are (n + 63) / 64, the bits past n clear), and
 * nnz counts the set bits. A dense-float tensor then has data == NULL and
 * nz holding its nnz stored values in element order, every other element
 * +0.0 (a stored value is any float whose bits are not all 0, -0.0
 * included); a quantized one has codes == NULL and nz_codes holding its
 * nnz codes in order, never 0, every other code 0. It is what a .spzm
 * bitmask payload holds, so it is read and written without expanding.
 * data/codes being NULL makes a consumer that does not know the form fail
 * at once; spz_tensor_densify turns it into the ordinary form. A float
 * tensor in the sparse form may have its values deferred (below): nz
 * NULL and src set, src->read then reading stored values [first, first +
 * count) (a pass over all nnz of them in order verifies them).
 */
/*
 * Values that are still in a file (spz_input.defer_values): a tensor with
 * data == NULL and src set holds its elements() floats where src->read
 * finds them. read copies elements [first, first + count) into dst as
 * host floats; a read that completes a pass over all the elements in
 * order, from element 0, also verifies them: it fails when the file's
 * checksum does not match, else on the pass's first NaN or infinity (by
 * index), so a consumer that read every element in order got exactly
 * what the file holds, or an error from that last read. Reads in any
 * other order are allowed and are neither checked nor verified. close
 * releases ctx. The tensor owns src (freed with it or by
 * spz_tensor_undefer).
 *
 * A source may also offer that pass split into parts read at once on
 * several threads (read_part and check_parts both set, or both NULL):
 * a part (spz_part) starts zeroed but for first and next, both its first
 * element; read_part reads its next count elements into dst and carries
 * the part's checksum and first bad value in *p, keeping nothing in the
 * source. check_parts, given parts that follow each other from element 0
 * to the last (SPZ_EINVAL otherwise), returns the error the pass of read
 * would have given, or 0.
 */
typedef struct spz_part {
	int64_t first, next; /* the part's first element; the next to read */
	uint32_t crc;        /* of the bytes read so far */
	int bad_rc;          /* the first NaN or infinity read (0: none), */
	spz_error bad;       /* its message */
} spz_part;

typedef struct spz_source {
	int (*read)(void *ctx, int64_t first, int64_t count, float *dst,
	            spz_error *err);
	void (*close)(void *ctx);
	void *ctx;
	int (*read_part)(void *ctx, spz_part *p, int64_t count, float *dst,
	                 spz_error *err);
	int (*check_parts)(void *ctx, const spz_part *parts, size_t n,
	                   spz_error *err);
} spz_source;

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
	uint8_t *raw;
	uint64_t raw_len;
	/* ONNX pass-through (formats/README.md, "ONNX"): the tensor's
	 * TensorProto fields other than dims, data_type and the data, and
	 * onnx_enc, the field number that held the data (-1: none). NULL and
	 * 0 when the tensor did not come from ONNX. Opaque to the
	 * algorithms. */
	uint8_t *onnx;
	size_t onnx_len;
	int onnx_enc;
	/* The sparse form (above); NULL, 0 otherwise. */
	uint64_t *mask;
	int64_t nnz;
	float *nz;
	uint8_t *nz_codes;
	/* Who owns data. 0: the tensor (malloc'd, freed with it). 1: data
	 * is borrowed from a file mapping that the model holds
	 * (spz_model_hold_mapping): never free() or realloc() it. Either
	 * way data may be written in place (a borrowed page is copied on
	 * its first write; the file never changes). Code that frees or
	 * replaces data goes through spz_tensor_set_data /
	 * spz_tensor_drop_data, which know the difference. */
	int data_borrowed;
	/* Deferred values (spz_source above); NULL otherwise. */
	spz_source *src;
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
	/* ONNX pass-through: the ModelProto read, with its initializers and
	 * Constant tensors replaced by references to the tensors above
	 * (formats/README.md, "ONNX"); NULL when the model did not come from
	 * ONNX. Opaque to the algorithms. */
	uint8_t *onnx;
	size_t onnx_len;
	/* Files mapped by a reader that tensors' data points into (those
	 * with data_borrowed set); unmapped by spz_model_free, so a
	 * borrowed pointer lives exactly as long as the model. */
	struct spz_mapping {
		void *base;
		size_t len;
	} *maps;
	size_t n_maps;
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
/*
 * spz_model_add_tensor for a reader that has not yet seen the values: the
 * tensor gets its name and dims but no storage (data NULL), so a count a
 * file merely declares commits no memory. The reader checks the values
 * are there, then calls spz_tensor_alloc (or sets data itself, malloc'd)
 * before the model leaves it.
 */
int spz_model_add_tensor_shape(spz_tensor **out, spz_model *m,
                               const char *name, const int64_t *dims,
                               int ndims, spz_error *err);
/* Allocates t's missing storage, uninitialized: the codes when t has a
 * codebook, else the float data (elements() of them). SPZ_ENOMEM. */
int spz_tensor_alloc(spz_tensor *t, spz_error *err);
/*
 * Ownership of spz_tensor.data (the rule: whoever frees or replaces
 * t->data calls one of these, never free() itself; writing the floats in
 * place is always allowed).
 *
 * spz_tensor_drop_data: frees data when the tensor owns it, forgets it
 * when borrowed, closes a deferred tensor's source (spz_tensor.src);
 * data and src are NULL after.
 * spz_tensor_set_data: drops the old data and takes ownership of data
 * (malloc'd, elements() floats).
 * spz_tensor_borrow_data: drops the old data and points data at floats
 * inside a mapping the model holds (spz_model_hold_mapping), 4-byte
 * aligned; they stay valid until spz_model_free.
 * spz_tensor_own_data: when data is borrowed, copies it into memory of
 * the tensor's own (SPZ_ENOMEM), for a caller about to rewrite most of
 * it: copying once beats a copy-on-write fault per page.
 */
void spz_tensor_drop_data(spz_tensor *t);
void spz_tensor_set_data(spz_tensor *t, float *data);
void spz_tensor_borrow_data(spz_tensor *t, float *data);
int spz_tensor_own_data(spz_tensor *t, spz_error *err);
/*
 * Gives m a file mapping of len bytes at base (from mmap) that tensors'
 * data may borrow from; spz_model_free unmaps it. SPZ_ENOMEM (the
 * mapping is then still the caller's).
 */
int spz_model_hold_mapping(spz_model *m, void *base, size_t len);
/*
 * Appends a raw tensor of a dtype that is not float-like, its raw_len
 * bytes copied from raw (NULL: zero-filled). SPZ_EINVAL for a
 * float-like dtype; SPZ_ERANGE when a fixed-size dtype's raw_len is not
 * elements times its size; SPZ_EEXIST on a duplicate name.
 */
int spz_model_add_raw_tensor(spz_tensor **out, spz_model *m,
                             const char *name, int dtype,
                             const int64_t *dims, int ndims, const void *raw,
                             uint64_t raw_len, spz_error *err);
/* Element i of an integer tensor (raw INT8..INT64, UINT8..UINT64, BOOL)
 * as int64 in *out; SPZ_EUNSUPPORTED for any other dtype, SPZ_ERANGE for
 * a UINT64 above INT64_MAX. */
int spz_tensor_int64(int64_t *out, const spz_tensor *t, int64_t i);

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
 * and codes (elements() entries, each < size), drops data.
 */
void spz_tensor_set_quantized(spz_tensor *t, int bits, float *codebook,
                              uint32_t size, uint8_t *codes);
/*
 * Makes t sparse (see spz_tensor): takes ownership of mask (words for
 * elements() bits, nnz of them set) and of nz (nnz floats, t dense) or
 * nz_codes (nnz codes, t quantized), and frees data or codes. The caller
 * vouches for the contents.
 */
void spz_tensor_set_sparse(spz_tensor *t, uint64_t *mask, int64_t nnz,
                           float *nz, uint8_t *nz_codes);
/* Writes sparse-form t's stored values at their elements of out, which
 * holds elements() floats (t dense) or codes (t quantized) and which the
 * caller has zeroed; t is unchanged. */
void spz_tensor_expand(void *out, const spz_tensor *t);
/* Makes a sparse tensor ordinary again (data or codes of every element,
 * the mask and values freed; deferred values read first,
 * spz_tensor_undefer); any other tensor is left alone. An error
 * (SPZ_ENOMEM, the source's) leaves it unchanged. */
int spz_tensor_densify(spz_tensor *t, spz_error *err);
/* spz_tensor_densify on every tensor of m. */
int spz_model_densify(spz_model *m, spz_error *err);
/* Reads a deferred tensor's values (spz_tensor.src) into data of its own
 * (nz of its own, for a deferred sparse one) in one pass, so they are
 * verified, and frees src; any other tensor is left alone. On failure
 * (the source's error, SPZ_ENOMEM) t is unchanged. */
int spz_tensor_undefer(spz_tensor *t, spz_error *err);
/* spz_tensor_undefer on every tensor of m. */
int spz_model_undefer(spz_model *m, spz_error *err);
/* Sets (copies) the prune record; NULL clears it. */
int spz_tensor_set_prune(spz_tensor *t, const spz_prune_record *rec);

/* Sets (copies) the ONNX pass-through bytes of a model / a tensor (see
 * spz_model.onnx, spz_tensor.onnx); len 0 clears the bytes. SPZ_ENOMEM. */
int spz_model_set_onnx(spz_model *m, const void *bytes, size_t len);
int spz_tensor_set_onnx(spz_tensor *t, const void *bytes, size_t len,
                        int enc);

/* Appends a history step; params are key/value pairs, copied. */
int spz_model_add_step(spz_model *m, const char *tool,
                       const spz_param *params, size_t n_params);

/*
 * Checks the model's integrity: unique tensor names, every node input is a
 * graph input, an initializer or an earlier node's output (so nodes are in
 * topological order), every tensor finite, codes within their codebook,
 * attribute and pruning-record numbers finite.
 * The message names the tensor/node and the index at fault.
 */
int spz_model_validate(const spz_model *m, spz_error *err);
/*
 * spz_model_validate without the per-element checks (finite data, codes
 * within the codebook): for readers that ran spz_tensor_check_values on
 * each piece of a tensor as it arrived, so big models are scanned once.
 */
int spz_model_validate_graph(const spz_model *m, spz_error *err);
/*
 * Checks elements [first, first + count) of t: finite values (dense) or
 * codes below codebook_size (quantized). SPZ_ERANGE with a message naming
 * the tensor and the element's index in the whole tensor.
 */
/* The value check of spz_tensor_check_values for count floats at v, the
 * elements first.. of tensor name (the index in the message counts from
 * first). */
int spz_check_floats(const char *name, const float *v, int64_t first,
                     int64_t count, spz_error *err);
int spz_tensor_check_values(const spz_tensor *t, int64_t first,
                            int64_t count, spz_error *err);

/* Is this float-like tensor of at least 2 dims the weight of a Gemm,
 * MatMul or Conv node (input 1; for a MatMul also input 0 when input 1
 * is not a tensor)? Sets *node_out (may be NULL) to that node. */
int spz_model_is_weight(const spz_model *m, const spz_tensor *t,
                        const spz_node **node_out);

/* What a tensor is to its consumers: a weight (spz_model_is_weight), a
 * bias (1-D: Gemm C, Conv B, or added to a weight's MatMul), or other
 * (shapes, scalars, normalization: never pruned or quantized unless
 * named). */
typedef enum spz_role {
	SPZ_ROLE_OTHER = 0,
	SPZ_ROLE_WEIGHT = 1,
	SPZ_ROLE_BIAS = 2
} spz_role;
spz_role spz_tensor_role(const spz_model *m, const spz_tensor *t);

/* Static name of a data type: "float32", "float16", "int64", ... or
 * "other" for one spz does not know. */
const char *spz_dtype_name(int dtype);

/* ------------------------------------------------------------------ */
/* Data sets (formats/ reads them: spz_dataset_load)                   */

/*
 * Samples for evaluation or training: n samples of `features` float32
 * each, row-major (sample s is x[s * features .. + features)), the shape
 * of one sample in dims (e.g. 28, 28 for an MNIST image; its product is
 * features), and optionally one label per sample.
 */
typedef struct spz_dataset {
	size_t n;                   /* samples, >= 1 */
	size_t features;            /* floats per sample, >= 1 */
	int ndims;                  /* dims of one sample, 1..SPZ_MAX_DIMS-1 */
	int64_t dims[SPZ_MAX_DIMS];
	float *x;                   /* n x features, every value finite */
	int32_t *labels;            /* n labels >= 0, or NULL when unlabelled */
	int32_t classes;            /* 1 + the largest label; 0 unlabelled */
} spz_dataset;

/* An empty data set of n samples of the given sample dims, x zero-filled,
 * labels allocated (zero) when `labelled`. SPZ_ERANGE when n or the
 * features are 0 or overflow, SPZ_ENOMEM. */
int spz_dataset_new(spz_dataset **out, size_t n, const int64_t *dims,
                    int ndims, int labelled, spz_error *err);
/* A data set around buffers the caller filled: x (n x features floats)
 * and labels (n, or NULL), both from malloc; the set owns them from the
 * call on, also when it fails (it frees them then). For readers that grow
 * their buffers as the data arrives rather than trust a declared size.
 * classes is computed from the labels. SPZ_EINVAL when x is NULL,
 * SPZ_ERANGE as spz_dataset_new or for a label below 0 or at INT32_MAX,
 * SPZ_ENOMEM. */
int spz_dataset_adopt(spz_dataset **out, size_t n, const int64_t *dims,
                      int ndims, float *x, int32_t *labels, spz_error *err);
void spz_dataset_free(spz_dataset *d);

/* ------------------------------------------------------------------ */
/* Float32 forward pass and accuracy (spz eval, spz sensitivity)       */

/*
 * C = alpha op(A) op(B) + beta C for row-major float32 matrices (op
 * transposes when trans_* is set): C is m x n, the inner dimension k.
 * CBLAS (OpenBLAS) does the work; every dense matrix product of spz goes
 * through here. SPZ_ERANGE for a size past BLAS's 32-bit int.
 */
int spz_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
              float alpha, const float *a, size_t lda, const float *b,
              size_t ldb, float beta, float *c, size_t ldc, spz_error *err);

/*
 * The forward pass of a model over batches of samples. Ops: Gemm (alpha,
 * beta, transA, transB; C broadcast to M x N), MatMul (N-D by a 2-D
 * matrix), Add (NumPy broadcasting), Relu, Flatten (axis >= 1), Reshape
 * (shape from an integer initializer; 0 copies, -1 infers; its first dim
 * is the batch, and a fixed 1 there -- a model exported with batch 1 --
 * stands for the batch), Softmax (axis, default -1), Identity, Dropout
 * (inference: identity), Conv, MaxPool, AveragePool (2-D NCHW, group 1,
 * kernel_shape, strides, pads, dilations, ceil_mode for the pools,
 * count_include_pad). Quantized tensors are decoded through their
 * codebook once. Values are float32; the graph input is [batch,
 * features], except when a Conv reads it directly: then [batch, sample
 * dims] with a 2-D sample taken as one channel.
 */
typedef struct spz_forward spz_forward;

/* Input activity of one layer (a Gemm, MatMul or Conv node), summed over
 * every sample run since the last reset. */
typedef struct spz_forward_layer {
	const char *node;          /* node name (owned by the model) */
	uint64_t act_in;           /* input values seen */
	uint64_t act_in_nonzero;   /* of which non-zero */
} spz_forward_layer;

/*
 * Prepares m (which must outlive the pass) for samples of the given dims,
 * and runs one zero sample to check every shape. SPZ_EUNSUPPORTED names
 * the node of an op the pass does not have ("node 'x': the forward pass
 * has no op 'LSTM'") or shapes that do not fit; SPZ_ENOMEM.
 */
int spz_forward_new(spz_forward **out, const spz_model *m,
                    const int64_t *sample_dims, int ndims, spz_error *err);
void spz_forward_free(spz_forward *f);
/* Floats per sample of the output (the model's first output). */
size_t spz_forward_outputs(const spz_forward *f);
/* 1 when the output is a Softmax's (probabilities), 0 for logits. */
int spz_forward_is_probability(const spz_forward *f);
/* Samples per batch (default 256): memory against BLAS efficiency. */
int spz_forward_set_batch(spz_forward *f, size_t batch);
/*
 * Runs n samples (x: n x features, row-major) and writes n x outputs
 * floats to y (may be NULL). Results do not depend on the batch size
 * except through the BLAS library's own summation order.
 */
int spz_forward_run(spz_forward *f, float *y, const float *x, size_t n,
                    spz_error *err);
/* The dims of a computed value (batch first, as the last run or the
 * check run of spz_forward_new shaped it): 1 and dims/ndims filled, 0
 * when no node computes a value of that name. */
int spz_forward_dims(int64_t *dims, int *ndims, const spz_forward *f,
                     const char *name);
/* The layers' input activity (*count entries, owned by f). */
const spz_forward_layer *spz_forward_layers(const spz_forward *f,
                                            size_t *count);
void spz_forward_reset(spz_forward *f);
/*
 * Called before layer `layer` (of spz_forward_layers) runs on a batch,
 * with its input: ndims dims, dims[0] the samples of the batch (in
 * order), the rest one sample (C, H, W for a Conv). A non-zero return
 * (a negative spz_err code, the message set in err) stops the run with
 * it. What `spz eval --activity-out` records the zero patterns with.
 */
typedef int (*spz_forward_act_fn)(void *ctx, size_t layer, const float *a,
                                  const int64_t *dims, int ndims,
                                  spz_error *err);
/* Sets (fn NULL: clears) the hook for later runs. */
void spz_forward_set_act_hook(spz_forward *f, spz_forward_act_fn fn,
                              void *ctx);
/* Runs with `data` (elements of the tensor's dims) in place of float
 * tensor `name`; NULL goes back to the model's values. The model is not
 * changed. SPZ_ENOTFOUND when there is no such float tensor. */
int spz_forward_set_tensor(spz_forward *f, const char *name,
                           const float *data, spz_error *err);

/* Index of the largest of n values (the first on ties; NaN never wins). */
size_t spz_argmax(const float *v, size_t n);

/*
 * Accuracy figures of outputs against labels: top-1, mean cross-entropy,
 * per-class accuracy and the confusion matrix.
 */
typedef struct spz_metrics {
	size_t classes;
	uint64_t samples;
	uint64_t correct;
	double ce_sum;            /* sum of cross-entropies */
	uint64_t *confusion;      /* classes x classes: [true][predicted] */
} spz_metrics;

int spz_metrics_new(spz_metrics **out, size_t classes, spz_error *err);
void spz_metrics_free(spz_metrics *m);
/*
 * Adds n outputs (n x classes floats) with their labels. Logits give the
 * cross-entropy log(sum exp y) - y[label] (computed in double, shifted by
 * the maximum); probabilities (a Softmax output) give -log p[label], p
 * clamped to at least 1e-30 so one confident mistake stays finite.
 * SPZ_ERANGE names the sample of a label >= classes (nothing is added)
 * or a NaN output.
 */
int spz_metrics_add(spz_metrics *m, const float *y, const int32_t *labels,
                    size_t n, int probabilities, spz_error *err);

/* Outputs against a reference's on the same samples. */
typedef struct spz_agreement {
	uint64_t samples;
	uint64_t agree;           /* same top-1 class */
	double max_rel, sum_rel;  /* per sample spz_output_error's relative
	                             error: the largest and the sum */
	double max_abs;
} spz_agreement;
/* Adds n samples of width floats each. */
void spz_agreement_add(spz_agreement *a, const float *y, const float *ref,
                       size_t n, size_t width);

/* ------------------------------------------------------------------ */
/* Training and fine-tuning (spz train, spz finetune)                  */

/*
 * Mini-batch training of an MLP: a chain of Gemm (transA 0, alpha and
 * beta 1, transB 0 or 1, bias C optional) or MatMul layers, each
 * optionally followed by an Add of a bias initializer and a Relu; Flatten,
 * Identity and Dropout (as identity) may stand anywhere in the chain and a
 * Softmax may end it (it becomes the loss's). The loss is the mean softmax
 * cross-entropy of the last layer's outputs against the labels.
 *
 * What compression decided is kept (SPZ_TRAIN_KEEP):
 *  - a quantized tensor keeps its codes; each codebook entry but entry 0
 *    (exactly 0.0, never moved) is a parameter whose gradient is the sum of
 *    the gradients of the weights that share it (Deep Compression 3.3);
 *  - a float weight (Gemm B, MatMul B) with exact zeros keeps them: its
 *    gradient and update are masked, so the non-zero count is unchanged;
 *  - biases (and weights without zeros) train freely.
 * Without SPZ_TRAIN_KEEP (a fresh model, spz train) every float tensor
 * trains freely and a quantized one is refused.
 *
 * Determinism: samples are shuffled each epoch with spz_rng from the seed;
 * the library's own sums run in a fixed order. The GEMMs are BLAS's: with
 * OpenBLAS the same thread count gives the same bytes (its threads split
 * the output, not the sums, in the shapes used here; spz(1) documents it).
 */
typedef enum spz_optimizer {
	SPZ_OPTIM_SGD = 0,   /* SGD with (heavy-ball) momentum */
	SPZ_OPTIM_ADAM = 1   /* Adam (Kingma & Ba), beta 0.9 / 0.999, eps 1e-8 */
} spz_optimizer;

typedef enum spz_lr_schedule {
	SPZ_LR_COSINE = 0,   /* lr * (1 + cos(pi * step / steps)) / 2 */
	SPZ_LR_CONSTANT = 1
} spz_lr_schedule;

/* What a progress callback is told. */
typedef struct spz_train_progress {
	int epoch_end;          /* 0: a step within the epoch; 1: epoch done */
	size_t epoch, epochs;   /* epoch counts from 1 */
	size_t step, steps;     /* steps done in this epoch, steps per epoch */
	double lr;              /* learning rate of the last step */
	double loss;            /* mean training loss so far in this epoch */
	double train_accuracy;  /* top-1 on this epoch's training batches,
	                           before each batch's update */
	double test_accuracy;   /* at epoch end, on the test set; -1 without */
	double test_loss;       /* likewise */
} spz_train_progress;
/* Returns 0 to go on; anything else stops the run (SPZ_EINVAL "stopped"). */
typedef int (*spz_train_progress_fn)(void *ctx, const spz_train_progress *p);

#define SPZ_TRAIN_KEEP 1

typedef struct spz_train_options {
	size_t epochs;            /* >= 1 */
	size_t batch;             /* >= 1 */
	spz_optimizer optimizer;
	double lr;                /* > 0, finite */
	spz_lr_schedule schedule;
	double momentum;          /* SGD, 0 <= momentum < 1 */
	uint64_t seed;            /* shuffling */
	int flags;                /* SPZ_TRAIN_KEEP */
	spz_train_progress_fn progress; /* may be NULL */
	void *progress_ctx;
	double weight_decay;      /* 0 <= wd < 1 / lr: decoupled decay of the
	                             weights (not biases, not centroids) by
	                             lr * wd a step (AdamW; L2 for SGD) */
} spz_train_options;
#define SPZ_TRAIN_OPTIONS_INIT \
	{20, 64, SPZ_OPTIM_ADAM, 1e-3, SPZ_LR_COSINE, 0.9, 0, 0, NULL, NULL, 0.0}

typedef struct spz_trainer spz_trainer;

/* How a tensor trains. */
typedef enum spz_param_kind {
	SPZ_PARAM_DENSE = 0,    /* every element */
	SPZ_PARAM_MASKED = 1,   /* the non-zeros; zeros stay 0 */
	SPZ_PARAM_CODEBOOK = 2  /* codebook entries 1.. (codes kept) */
} spz_param_kind;

/* A trained tensor. value and grad have n floats: the elements (dense,
 * masked) or the codebook (entry 0 included, its gradient always 0). */
typedef struct spz_train_param {
	const char *tensor;      /* owned by the model */
	spz_param_kind kind;
	int is_bias;
	float *value;            /* the trainer's working copy */
	const float *grad;       /* of the last spz_trainer_gradient */
	size_t n;
	int64_t elements;        /* of the tensor */
	int64_t nonzeros;        /* of the tensor when the trainer was made */
} spz_train_param;

/*
 * A trainer for m (which must outlive it; it is not changed until
 * spz_trainer_write) with samples of `features` floats and `classes`
 * outputs. SPZ_EUNSUPPORTED names the node of an op or a graph shape that
 * cannot be trained ("node 'c1': op 'Conv' cannot be trained"), a
 * quantized tensor without SPZ_TRAIN_KEEP, or features/classes that do
 * not match the layers; SPZ_EINVAL for a bad option; SPZ_ENOMEM.
 */
int spz_trainer_new(spz_trainer **out, const spz_model *m, size_t features,
                    const spz_train_options *o, spz_error *err);
void spz_trainer_free(spz_trainer *t);
/* Outputs (classes) of the last layer. */
size_t spz_trainer_outputs(const spz_trainer *t);
/* The trained tensors (*count entries, owned by t), in graph order. */
spz_train_param *spz_trainer_params(spz_trainer *t, size_t *count);
/* After editing params' values: decodes codebooks and re-applies masks. */
void spz_trainer_sync(spz_trainer *t);
/*
 * Forward and backward pass over n samples (x: n x features; labels <
 * outputs): *loss gets the mean cross-entropy, every param's grad the
 * gradient of that mean, *correct (may be NULL) the number of samples
 * whose top-1 output was the label. SPZ_ERANGE for a bad label.
 */
int spz_trainer_gradient(spz_trainer *t, double *loss, size_t *correct,
                         const float *x, const int32_t *labels, size_t n,
                         spz_error *err);
/* One optimizer update from the last gradients with learning rate lr. */
void spz_trainer_step(spz_trainer *t, double lr);
/* Logits of n samples (n x outputs floats in y). */
int spz_trainer_predict(spz_trainer *t, float *y, const float *x, size_t n,
                        spz_error *err);
/*
 * The whole run: o->epochs epochs over `train` (labelled, features as
 * given to spz_trainer_new) in shuffled mini-batches with the learning
 * rate schedule; after each epoch the test set (may be NULL) is
 * evaluated. SPZ_ERANGE when the loss or a parameter stops being finite
 * ("the loss became NaN at epoch 2, step 17 (learning rate 5): ..."),
 * SPZ_EINVAL when the callback stopped it.
 */
int spz_trainer_fit(spz_trainer *t, const spz_dataset *train,
                    const spz_dataset *test, spz_error *err);
/* Writes the trained values into m (the model given to spz_trainer_new):
 * float data, or the codebooks of quantized tensors (codes untouched). */
int spz_trainer_write(spz_trainer *t, spz_model *m, spz_error *err);

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

/* The same two with options (NULL: SPZ_GEN_OPTIONS_INIT): the seed and a
 * progress hook (by weights made). spz_gen_mlp and spz_gen_layer are
 * these with no hook. */
typedef struct spz_gen_options {
	uint64_t seed;
	spz_progress_fn progress; /* may be NULL */
	void *progress_ctx;
} spz_gen_options;
#define SPZ_GEN_OPTIONS_INIT {1, NULL, NULL}
int spz_gen_mlp_opts(spz_model **out, const int64_t *dims, size_t n_dims,
                     const spz_gen_options *opts, spz_error *err);
int spz_gen_layer_opts(spz_model **out, int64_t rows, int64_t cols,
                       double density, const spz_gen_options *opts,
                       spz_error *err);

/* ------------------------------------------------------------------ */
/* Names                                                               */

/*
 * Checks that s (n bytes) is text spz accepts in a name: valid UTF-8
 * (no overlong form, surrogate or code point past U+10FFFF) with no
 * control character (C0, DEL or C1). Returns -1 when it is, else the
 * byte offset of the first bad character. Readers refuse such names.
 */
int64_t spz_text_check(const char *s, size_t n);

/* Whether glob is a usable fnmatch(3) pattern for tensor names: not
 * empty, every '[' closed, no trailing '\'. */
int spz_glob_ok(const char *glob);

/* ------------------------------------------------------------------ */
/* Number text                                                         */

/* Writes the shortest decimal text (at most 31 chars + NUL) that reads back
 * to exactly v with strtod; returns buf. */
char *spz_format_double(char buf[32], double v);
/* Same for a float: the shortest text t with (float)strtod(t) == v. */
char *spz_format_float(char buf[32], float v);
/* The same texts; these return their length (writers of many numbers). */
size_t spz_double_text(char buf[32], double v);
size_t spz_float_text(char buf[32], float v);

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
	/* MatMul followed by an Add of a 1-D bias, as exporters write a
	 * biased layer: the Add node and its output (the Relu's input, or
	 * the layer's output), add_bias_first when the bias is the Add's
	 * first input. NULL / 0 when the bias (if any) is Gemm's C. */
	char *add_node;
	char *add_out;
	int add_bias_first;
	/* Layer 0 only: the Flatten or Reshape (pre_op) that the graph input
	 * pre_input passes through first, only flattening one sample; its
	 * output is the layer's input. pre_shape names the Reshape's INT64
	 * shape initializer (NULL for Flatten); pre_values holds that shape,
	 * or Flatten's axis. pre_op NULL when there is none. */
	char *pre_op, *pre_node, *pre_input, *pre_shape;
	int64_t pre_values[SPZ_MAX_DIMS];
	int n_pre_values;
	/* Nodes that had no name in the model (SPZ_EIE_ANON_*): the image
	 * names them after the weight, unpack gives them back unnamed. */
	unsigned anon;
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
	/* NULL, or one allocation holding every PE's code, index and ptr
	 * (spz_eie_pack's): then spz_eie_free frees it, not them. */
	void *pe_store;
} spz_eie_layer;

#define SPZ_EIE_ANON_NODE 1  /* the Gemm/MatMul */
#define SPZ_EIE_ANON_ACT 2   /* the Relu */
#define SPZ_EIE_ANON_ADD 4   /* the Add */
#define SPZ_EIE_ANON_PRE 8   /* the Flatten/Reshape */

typedef struct spz_eie {
	uint32_t pes;
	int index_bits;
	char *name;        /* model name */
	size_t n_layers;
	spz_eie_layer *layers;
} spz_eie;

typedef struct spz_eie_options {
	uint32_t pes;      /* SPZ_EIE_PES_MIN..MAX, default 64 */
	int index_bits;    /* SPZ_EIE_INDEX_BITS_MIN..MAX, default 4 */
	/* 0: the model must be a chain of fully connected layers (spz
	 * pack). 1: every Gemm/MatMul with a constant 2-D weight becomes a
	 * layer and every other node is left out (spz report lists those
	 * as not EIE); the image is then a set of layers, not a runnable
	 * chain. */
	int fc_only;
	spz_progress_fn progress; /* may be NULL: by weights packed */
	void *progress_ctx;
} spz_eie_options;
#define SPZ_EIE_OPTIONS_INIT {64, 4, 0, NULL, NULL}
/* The PE counts and relative-index widths an image may have. */
#define SPZ_EIE_PES_MIN 1
#define SPZ_EIE_PES_MAX 4096
#define SPZ_EIE_INDEX_BITS_MIN 2
#define SPZ_EIE_INDEX_BITS_MAX 8

/*
 * Packs a quantized model whose layers form a chain of fully connected
 * layers into an EIE image: Gemm (transB 0 or 1, C optional) or MatMul
 * (its bias an Add of a 1-D initializer right after it), each optionally
 * followed by Relu; a Flatten (axis 0 or 1) or a Reshape to [1, -1],
 * [1, N], [-1] or [N] may come first (a sample is one vector). Unnamed
 * nodes are named after their layer's weight. Refuses (SPZ_EUNSUPPORTED)
 * any other node, a branch or an unquantized weight, naming the first
 * node it cannot pack and why. Memory: O(non-zeros + pes * cols).
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

/*
 * The name and byte offset of each double field of a table of constants
 * (spz_energy_table, spz_arch_table), in field order: the keys of its
 * JSON override file and of the report's JSON, kept in one place.
 */
typedef struct spz_table_key {
	const char *key;
	size_t off;
} spz_table_key;

/* The keys of spz_energy_table (*n of them). */
const spz_table_key *spz_energy_table_keys(size_t *n);

/* Integer add of `bits` bits. */
double spz_energy_add(const spz_energy_table *t, int bits);
/* Fixed-point multiply of `bits` bits (32 and above: int_mult_32). */
double spz_energy_mult(const spz_energy_table *t, int bits);
/* SRAM / DRAM read of `bits` bits. */
double spz_energy_sram(const spz_energy_table *t, double bits);
double spz_energy_dram(const spz_energy_table *t, double bits);



/* ------------------------------------------------------------------ */
/* Other accelerators: Cnvlutin, A100 2:4 tensor cores (spz report)    */

/*
 * The shape of a layer as a convolution: input c_in x h x w (CHW),
 * c_out filters of c_in x kh x kw, one stride and one zero padding for
 * both spatial axes. Output h_out = (h + 2 pad - kh) / stride + 1 (same
 * for w). A fully connected layer of [rows, cols] is c_in = cols,
 * c_out = rows, h = w = kh = kw = stride = 1, pad = 0.
 */
typedef struct spz_conv_shape {
	int64_t c_in, h, w, c_out, kh, kw, stride, pad;
} spz_conv_shape;

/* SPZ_EINVAL naming the field unless every side is in 1..2^31-1, pad in
 * 0..2^31-1, kh <= h + 2 pad and kw <= w + 2 pad. Sets *h_out, *w_out
 * (may be NULL). */
int spz_conv_shape_check(int64_t *h_out, int64_t *w_out,
                         const spz_conv_shape *s, spz_error *err);

/*
 * Cnvlutin (Albericio et al., ISCA 2016) against its baseline DaDianNao,
 * on one layer, in cycles. The organisation: `units` units, each with
 * `lanes` neuron lanes and `filters` filter lanes; a brick is `lanes`
 * consecutive input channels at one (x, y) position (the last brick of a
 * position padded with zero channels). Every unit sees the same neurons
 * and works on its own `filters` filters, so a pass covers
 * units x filters output channels and the layer takes
 * ceil(c_out / (units x filters)) passes; windows (output positions) are
 * processed one after the other. A window's bricks, numbered t in
 * (ky, kx, brick) order, B = kh kw ceil(c_in / lanes) of them (positions
 * in the zero padding included), go to lane t mod lanes: with c_in a
 * multiple of lanes x lanes (256) lane i takes the i-th slice of the
 * channels at every position, the paper's depth slicing.
 *  - DaDianNao: one brick per cycle (lane i takes its channel i): a
 *    window costs B cycles, zeros or not.
 *  - Cnvlutin: each lane streams only the non-zero neurons of its bricks
 *    (zero-free format, each with its offset selecting the weights), one
 *    per cycle; lanes run independently inside a window and the unit
 *    waits for its slowest lane before the next window: a window costs
 *    the largest non-zero count over its lanes, at least one cycle (one
 *    window is dispatched per cycle at most). A dense window therefore
 *    costs lanes x ceil(B / lanes), more than B when B is not a multiple
 *    of lanes (the lanes left without a brick idle). A layer with
 *    c_in < lanes (an input image) runs as DaDianNao: the paper keeps the
 *    first layer dense.
 * Not modelled: memory stalls (NM/SB bandwidth is assumed sufficient, as
 * in the paper), the dispatcher's encoding of outputs, pipeline fill,
 * and pruning of ineffectual non-zero neurons.
 */
typedef struct spz_cnv_options {
	int units;    /* 16 */
	int lanes;    /* neuron lanes per unit = channels per brick: 16 */
	int filters;  /* filter lanes per unit: 16 */
} spz_cnv_options;
#define SPZ_CNV_OPTIONS_INIT {16, 16, 16}

typedef struct spz_cnv_result {
	int64_t h_out, w_out;
	uint64_t windows;            /* h_out x w_out */
	uint64_t passes;             /* ceil(c_out / (units x filters)) */
	uint64_t bricks_per_window;  /* kh kw ceil(c_in / lanes) */
	uint64_t neurons, nonzeros;  /* of the input (c_in h w) */
	uint64_t cycles_baseline;    /* DaDianNao */
	uint64_t cycles_cnv;         /* Cnvlutin */
	double speedup;              /* baseline / cnv (1 when both 0) */
	int dense_first;             /* c_in < lanes: run as DaDianNao */
} spz_cnv_result;

/*
 * The cycle counts above. mask holds c_in x h x w bytes, CHW, non-zero
 * where the input neuron is non-zero; NULL means every neuron is
 * non-zero. SPZ_EINVAL for a bad shape or option (1..4096 each);
 * SPZ_ERANGE when a count would overflow 64 bits; SPZ_ENOMEM.
 * Time O(c_in h w + windows x B / lanes x lanes).
 */
int spz_cnvlutin_layer(spz_cnv_result *out, const spz_conv_shape *s,
                       const uint8_t *mask, const spz_cnv_options *o,
                       spz_error *err);

/*
 * A deterministic zero pattern of n neurons with exactly round(density n)
 * non-zeros (mask[i] = 1), chosen by selection sampling with spz_rng
 * seeded by seed: what --act-density stands for when no measured pattern
 * is given. SPZ_EINVAL for a density outside 0..1.
 */
int spz_act_pattern(uint8_t *mask, uint64_t n, double density,
                    uint64_t seed, spz_error *err);

/*
 * Constants of the other designs, every one > 0 and finite (overridable:
 * spz_arch_table_load in spz_format.h). A100 figures from NVIDIA's A100
 * whitepaper (2020): tensor-core FP16 peak 312 TFLOPS dense, 624 with 2:4
 * sparse weights; HBM2 1555 GB/s (40 GB part). FP16 values (2 bytes),
 * 2-bit metadata per kept value, boost clock 1410 MHz. cnv_clock_mhz:
 * the DaDianNao node's 606 MHz (Chen et al., MICRO 2014); Cnvlutin's
 * results are speedups over DaDianNao at an equal clock, so the clock
 * sets the times only (spz-report(1), "Constants and their sources").
 */
typedef struct spz_arch_table {
	double tc24_dense_tflops;   /* 312 */
	double tc24_sparse_tflops;  /* 624 */
	double tc24_bandwidth_gbps; /* 1555 (GB/s, 1e9 bytes) */
	double tc24_value_bytes;    /* 2 (FP16 weights and activations) */
	double tc24_metadata_bits;  /* 2 per kept value */
	double cnv_clock_mhz;       /* 606 */
	double tc24_clock_mhz;      /* 1410 (boost clock: cycles from time) */
} spz_arch_table;
#define SPZ_ARCH_TABLE_INIT {312.0, 624.0, 1555.0, 2.0, 2.0, 606.0, 1410.0}

/* The keys of spz_arch_table (*n of them). */
const spz_table_key *spz_arch_table_keys(size_t *n);
/* SPZ_EINVAL naming the first entry that is not > 0 and finite. */
int spz_arch_table_check(const spz_arch_table *t, spz_error *err);

/*
 * Roofline of one layer as one A100 GEMM at batch `batch`: M = c_out,
 * K = c_in kh kw, N = batch h_out w_out (implicit GEMM for a conv).
 * flops = 2 M K N. Bytes moved = weights + inputs (batch c_in h w) +
 * outputs (batch c_out h_out w_out), each value tc24_value_bytes; dense
 * weights are M K values; 2:4 weights are the M K / 2 kept values plus
 * tc24_metadata_bits per kept value. time = max(flops / peak, bytes /
 * bandwidth). A layer whose weights are not 2:4 (is_24 == 0) runs dense:
 * its sparse time is its dense time, speedup exactly 1.
 * SPZ_EINVAL for a bad shape, a batch of 0 or a bad table.
 */
typedef struct spz_tc24_result {
	double m, k, n;
	double flops;
	double bytes_dense, bytes_sparse;
	double time_dense_us, time_sparse_us;
	int memory_bound_dense, memory_bound_sparse;
	int sparse;              /* ran on the sparse tensor cores */
	double speedup;          /* dense / sparse time */
} spz_tc24_result;

int spz_tc24_gemm(spz_tc24_result *out, const spz_conv_shape *s,
                  uint64_t batch, int is_24, const spz_arch_table *t,
                  spz_error *err);

/*
 * The designs `spz report --arch` compares, each against its own dense
 * baseline (speedup = baseline time / time):
 *  - eie: the report's analytical EIE estimate; baseline: dense;
 *  - cnvlutin: spz_cnvlutin_layer on conv layers, at cnv_clock_mhz;
 *    baseline DaDianNao. Fully connected layers run as DaDianNao in both
 *    (the paper accelerates conv layers only);
 *  - tc24: spz_tc24_gemm at the batch; baseline the dense GEMM;
 *  - dense: EIE's PE array with no sparsity exploited: every weight's MAC
 *    for every output position, one MAC per PE per cycle, the output
 *    channels split over the PEs: ceil(c_out / pes) x c_in kh kw h_out
 *    w_out cycles at the EIE clock; its own baseline (speedup 1).
 */
#define SPZ_ARCH_EIE 1u
#define SPZ_ARCH_CNVLUTIN 2u
#define SPZ_ARCH_TC24 4u
#define SPZ_ARCH_DENSE 8u
#define SPZ_ARCH_ALL 15u
#define SPZ_ARCH_COUNT 4
/* Static name of design i (0..SPZ_ARCH_COUNT-1: eie, cnvlutin, tc24,
 * dense); its bit is 1 << i. */
const char *spz_arch_name(int i);
/* Bits of a comma-separated list of names ("all" for every one);
 * SPZ_EINVAL naming an unknown or repeated name, or an empty list. */
int spz_arch_parse(unsigned *out, const char *list, spz_error *err);

/* One layer to compare. */
typedef struct spz_arch_input {
	const char *name;
	spz_conv_shape shape;
	int conv;            /* a conv layer (Cnvlutin skips its zeros) */
	int is_24;           /* weights 2:4 along the reduction dimension */
	double eie_cycles;   /* the EIE estimate; < 0: EIE cannot run it */
	const uint8_t *mask; /* n_samples x (c_in h w) input masks (CHW), or
	                        NULL: one pattern from act_density */
	uint64_t n_samples;
	double act_density;  /* 0..1, used when mask is NULL */
} spz_arch_input;

/* One design on one layer (or the total). */
typedef struct spz_arch_figures {
	int applies;
	double cycles, base_cycles;  /* in the design's own clock */
	double time_us, base_time_us;
	double speedup;              /* base_time_us / time_us (1 when 0) */
} spz_arch_figures;

#define SPZ_ARCH_SWEEP 13        /* tc24 batches 1, 2, 4, ..., 4096 */

typedef struct spz_arch_layer {
	const char *name;            /* the input's (not copied) */
	spz_arch_figures fig[SPZ_ARCH_COUNT];
	spz_cnv_result cnv;          /* cycles averaged over the samples in
	                                fig; this is the last sample's */
	spz_tc24_result tc;          /* at the batch */
	double sweep_dense_us[SPZ_ARCH_SWEEP];
	double sweep_sparse_us[SPZ_ARCH_SWEEP];
} spz_arch_layer;

typedef struct spz_arch_options {
	unsigned designs;            /* SPZ_ARCH_* bits: SPZ_ARCH_ALL */
	uint64_t batch;              /* tc24: 1 */
	uint32_t pes;                /* dense: 64 */
	double clock_mhz;            /* EIE and dense: 800 */
	spz_arch_table table;
	spz_cnv_options cnv;
	uint64_t seed;               /* act_density patterns: layer i uses
	                                seed + i */
} spz_arch_options;
#define SPZ_ARCH_OPTIONS_INIT {SPZ_ARCH_ALL, 1, 64, 800.0, \
	SPZ_ARCH_TABLE_INIT, SPZ_CNV_OPTIONS_INIT, 1}

typedef struct spz_arch_report {
	unsigned designs;
	uint64_t batch;
	size_t n_layers;
	spz_arch_layer *layers;
	spz_arch_layer total;        /* sums of cycles and times; speedup of
	                                the sums; sweep summed */
} spz_arch_report;

/* Figures of every design in o->designs on n layers. A design that
 * applies to no layer is still computed where it can run. SPZ_EINVAL for
 * bad options (a batch of 0, no PE, a clock <= 0, a bad table), a bad
 * shape or density; SPZ_ERANGE, SPZ_ENOMEM. */
int spz_arch_compare(spz_arch_report **out, const spz_arch_input *in,
                     size_t n, const spz_arch_options *o, spz_error *err);
void spz_arch_report_free(spz_arch_report *r);

/* 1 when every group of 4 consecutive columns of every row of layer l
 * holds at most 2 non-zeros and cols is a multiple of 4; -1 out of
 * memory. */
int spz_eie_layer_is_24(const spz_eie *e, const spz_eie_layer *l);

/* ------------------------------------------------------------------ */
/* Huffman coding (Deep Compression section 4)                         */

/* Longest code spz builds; an optimal code longer than this (only for
 * extremely skewed counts) is replaced by the bzip2 fix: counts halved
 * (c / 2 + 1) until it fits, a prefix code a hair above optimal. */
#define SPZ_HUFF_MAX_LEN 24

/*
 * A canonical Huffman code of an alphabet of n symbols (1..256): len[s]
 * is the code length of symbol s (0 when s never occurs), code[s] its
 * bits (the first bit sent is the most significant of the len bits).
 * Canonical: codes are assigned in order of (length, symbol), each the
 * previous plus one, shifted left when the length grows (DEFLATE's rule),
 * so the lengths alone define the code.
 */
typedef struct spz_huff {
	int n;
	uint8_t len[256];
	uint32_t code[256];
	uint64_t bits;       /* sum of count[s] x len[s] */
	uint64_t symbols;    /* sum of count[s] */
} spz_huff;

/*
 * Optimal code lengths for count[0..n) (two-queue Huffman on the symbols
 * sorted by count, ties by symbol, a tie between a leaf and a merged node
 * taking the leaf: deterministic), then the canonical codes. One used
 * symbol gets length 1. No used symbol: every length 0, bits 0.
 * SPZ_EINVAL for n outside 1..256.
 */
int spz_huff_build(spz_huff *h, const uint64_t *count, int n,
                   spz_error *err);
/* Fills code[] from len[] canonically; SPZ_EFORMAT when the lengths are
 * not a prefix code (over-subscribed) or a length exceeds
 * SPZ_HUFF_MAX_LEN. An incomplete code is accepted (a single symbol has
 * length 1). */
int spz_huff_canonical(spz_huff *h, spz_error *err);

/* Appends the code of each of n symbols to out (LSB-first bit order as
 * the image's packed entries: bit k of the stream is bit k % 8 of byte
 * k / 8; each code sent most significant bit first). out must hold
 * ceil(total bits / 8) bytes; they are overwritten, the bits after the
 * last code are 0. Returns the bits written. A symbol
 * with no code is a caller error (SPZ_EINVAL). */
int spz_huff_encode(uint64_t *bits_out, uint8_t *out, const spz_huff *h,
                    const uint8_t *sym, uint64_t n, spz_error *err);
/* Decodes n symbols from in (in_bits bits long) into sym. SPZ_EFORMAT
 * when the stream ends early or holds a bit pattern that is no code;
 * *used gets the bits consumed. */
int spz_huff_decode(uint8_t *sym, uint64_t n, uint64_t *used,
                    const uint8_t *in, uint64_t in_bits, const spz_huff *h,
                    spz_error *err);

/* Bits the decoder's first-level table resolves at once: codes up to
 * this long take one lookup, longer ones (rare: they are the least
 * frequent symbols) finish bit by bit. 2^10 entries of 2 bytes stay in
 * L1. */
#define SPZ_HUFF_LOOKUP 10

/* A table-driven decoder of one code, built once and used for many
 * streams (each PE's entries). */
typedef struct spz_huff_decoder {
	uint16_t fast[1 << SPZ_HUFF_LOOKUP]; /* symbol | length << 8; 0: longer */
	/* Every whole code within the SPZ_HUFF_LOOKUP bits at once: up to 7
	 * symbols (bytes 0..6), their count | their total length << 3 in
	 * byte 7 (0: the first code is longer than the table). Short codes
	 * (1 bit for two symbols) would otherwise take a lookup each. */
	uint8_t multi[1 << SPZ_HUFF_LOOKUP][8];
	uint32_t count[SPZ_HUFF_MAX_LEN + 1]; /* codes of each length */
	uint8_t order[256];                   /* symbols by (length, symbol) */
	int single;   /* the symbol of a one-symbol code (1 bit, "0"), or -1 */
} spz_huff_decoder;

/* Builds d from h (lengths and codes as spz_huff_canonical left them). */
int spz_huff_decoder_init(spz_huff_decoder *d, const spz_huff *h,
                          spz_error *err);
/* spz_huff_decode with a decoder built beforehand. */
int spz_huff_decoder_run(uint8_t *sym, uint64_t n, uint64_t *used,
                         const uint8_t *in, uint64_t in_bits,
                         const spz_huff_decoder *d, spz_error *err);

/* SPZ_EFORMAT unless h's lengths form a complete prefix code (Kraft sum
 * exactly 1), or have no symbol, or one symbol of length 1 (what
 * spz_huff_build makes of one used symbol): what a reader demands of a
 * code-length table. */
int spz_huff_check_complete(const spz_huff *h, spz_error *err);

/* Huffman sizes of an EIE layer (Deep Compression stage 3 on EIE's
 * storage): one code for the entry codes v and one for the relative
 * indices z over every entry (padding included), each with its table of
 * code lengths (one byte per symbol of the alphabet, 2^code_bits and
 * 2^index_bits). */
typedef struct spz_huff_layer {
	spz_huff codes, index;
	uint64_t codes_bits, index_bits;   /* the coded streams */
	uint64_t table_bits;               /* 8 (2^code_bits + 2^index_bits) */
	uint64_t fixed_bits;               /* the same entries at fixed width */
} spz_huff_layer;

int spz_huff_layer_sizes(spz_huff_layer *out, const spz_eie *e,
                         const spz_eie_layer *l, spz_error *err);


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

/*
 * Where N:M pruning out of place (spz_prune_options.sparse_out) sends one
 * tensor's stored values instead of keeping them in memory: a writer that
 * puts them straight where they belong in its output (spz_spzm_placer_new,
 * formats/). For that tensor the pass calls put with its stored values
 * [at, at + count) (value indices, element order: the values of the
 * sparse form), from up to two threads at once for disjoint ranges, and
 * move when values [from, from + count) must go down to index to (to <
 * from; the halves of a split pass meet there). Each returns 0, or an
 * SPZ_E* code with err set, which stops the pass. After the pass finish is
 * called once with the tensor in the sparse form but without its values
 * (mask and nnz set, nz NULL) and must give it a source of them (a
 * deferred sparse tensor, spz_tensor_undefer). The sink is not called for
 * the other tensors, nor in the other modes, nor for a tensor pruned in
 * place.
 */
typedef struct spz_value_sink {
	const spz_tensor *tensor; /* the tensor whose values go here */
	int (*put)(void *ctx, int64_t at, const float *v, int64_t count,
	           spz_error *err);
	int (*move)(void *ctx, int64_t to, int64_t from, int64_t count,
	            spz_error *err);
	int (*finish)(void *ctx, spz_tensor *t, spz_error *err);
	void *ctx;
} spz_value_sink;

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
	spz_progress_fn progress; /* may be NULL: by elements of the
	                             tensors pruned, a piece at a time out
	                             of place, a tensor at a time in place */
	void *progress_ctx;
	int sparse_out;       /* 0, or leave each pruned tensor in the
	                         sparse form (spz_tensor): SPZ_SPARSE_READ,
	                         its data only read (it may be a file's
	                         mapped pages), the values in new memory;
	                         SPZ_SPARSE_REUSE, the values packed into the
	                         tensor's own data as they are built (no new
	                         memory for them) */
	const spz_value_sink *sink; /* NULL, or where the stored values of
	                         sink->tensor go (N:M with sparse_out) */
} spz_prune_options;
#define SPZ_SPARSE_READ 1
#define SPZ_SPARSE_REUSE 2
#define SPZ_PRUNE_OPTIONS_INIT \
	{SPZ_PRUNE_MAGNITUDE, 0, 0.5, 0.0, 2, 4, SPZ_NM_PARTIAL_REFUSE, NULL, \
	 NULL, 0, NULL}

/*
 * What spz_prune_model(m, ..., o) will make of tensor t of m, as far as
 * it is known before the pass; for N:M only (other modes keep what the
 * values decide): *rec as it will be recorded but for the threshold (0),
 * and *nnz, the values kept when none of them is zero (n of each group,
 * a last partial group's as o->nm_partial says): the most there can be.
 * SPZ_EINVAL for another mode, SPZ_EUNSUPPORTED where N:M does not apply
 * (spz_prune_model's message).
 */
int spz_prune_predict(spz_prune_record *rec, int64_t *nnz,
                      const spz_model *m, const spz_tensor *t,
                      const spz_prune_options *o, spz_error *err);

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
 * With opts->sparse_out each item's tensor ends in the sparse form holding
 * exactly the values in-place pruning leaves (stats and records alike):
 * the keep set is decided on the data as it is, then one pass per piece
 * of cache size builds the mask and values (SPZ_SPARSE_READ: data only
 * read; SPZ_SPARSE_REUSE: the values packed into the data they came
 * from, which must be the tensor's own).
 */
int spz_prune_model(spz_model *m, spz_prune_item *items, size_t n_items,
                    const spz_prune_options *opts, spz_error *err);


/* ------------------------------------------------------------------ */
/* Weight sharing: 1-D k-means (spz quantize)                          */

/* How Lloyd's algorithm picks its first centroids (Deep Compression §3.1). */
typedef enum spz_kmeans_init {
	SPZ_KMEANS_LINEAR = 0,  /* evenly spaced on [min, max] of the values */
	SPZ_KMEANS_DENSITY = 1, /* evenly spaced on the CDF: value at quantile
	                           (j + 1/2) / k of the sorted values */
	SPZ_KMEANS_RANDOM = 2,  /* Forgy: k distinct positions drawn with seed */
	SPZ_KMEANS_KMEANSPP = 3 /* k-means++ (D^2 sampling) with seed */
} spz_kmeans_init;

/* Name of an init ("linear", "density", "random", "kmeans++"), or NULL. */
const char *spz_kmeans_init_name(int init);
/* The init called name, or -1 when there is none. */
int spz_kmeans_init_parse(const char *name);

/* The default cap on Lloyd's update steps: a cap, not a budget. Lloyd
 * stops when the assignment no longer changes; on 37.7 M He-normal
 * weights (a 4096x9216 layer) that took at most 974 steps at 4 bits and
 * 28,714 at 8 bits over the four inits, so runs that reach this cap are
 * the ones that would not converge at all. */
#define SPZ_KMEANS_MAX_ITER 100000

typedef struct spz_kmeans_options {
	size_t k;        /* clusters, >= 1 */
	int init;        /* spz_kmeans_init (Lloyd only) */
	int max_iter;    /* cap on Lloyd's update steps, >= 0 (0 keeps the
	                    initial centroids) */
	int optimal;     /* exact optimum by dynamic programming instead */
	uint64_t seed;   /* for the random and kmeans++ inits */
	spz_progress_fn progress; /* may be NULL; Lloyd's share is estimated
	                             from the values its last step moved */
	void *progress_ctx;
} spz_kmeans_options;
#define SPZ_KMEANS_OPTIONS_INIT \
	{15, SPZ_KMEANS_LINEAR, SPZ_KMEANS_MAX_ITER, 0, 1, NULL, NULL}

typedef struct spz_kmeans_stats {
	size_t clusters;  /* centroids returned: min(k, distinct values) */
	int iterations;   /* Lloyd update steps (for optimal: steps after the
	                     DP, normally 0) */
	int converged;    /* the last assignment equals the one before it;
	                     0 with !exact: stopped by max_iter */
	int exact;        /* at most k distinct values: centroids = values */
	double sse;       /* sum of squared errors of the values against their
	                     nearest centroid */
} spz_kmeans_stats;

/*
 * Sorts n floats ascending (LSD radix sort on the bit patterns, O(n),
 * -0.0 before +0.0). NaN is not allowed. SPZ_ENOMEM if its n-float
 * scratch buffer cannot be allocated.
 */
int spz_sort_floats(float *v, size_t n, spz_error *err);

/*
 * 1-D k-means of n non-zero finite values (any order; not modified) for
 * weight sharing. Writes stats->clusters centroids to centroids[] (room for
 * opts->k), ascending, each a float that is never 0.0: a cluster whose
 * mean rounds to 0.0 gets the nearest non-zero float (+-FLT_TRUE_MIN,
 * the sign of the mean) instead.
 * - At most k distinct values: the centroids are exactly those values.
 * - Lloyd: sorts once, then each iteration costs O(k log n) (cuts at
 *   midpoints found by binary search, means from prefix sums). Values at
 *   a midpoint go to the lower centroid. An empty cluster takes the value
 *   farthest from its centroid in the cluster with the largest squared
 *   error (ties: lowest cluster, lower end); such a step is taken even
 *   past max_iter, so every returned centroid has values. Stops when an
 *   assignment equals the previous one, or after max_iter update steps.
 * - optimal: the minimum total squared error, by dynamic programming over
 *   the sorted values in O(k n log n) time (divide and conquer on the
 *   monotone argmins); candidate totals are compared to within 2^-36 of
 *   themselves (exact integers where a double estimate cannot promise it).
 * Sums are exact for any finite values, however wide their range: prefix
 *   sums are fixed-point integers in units of the lowest bit of any value
 *   (1 to 11 64-bit limbs as the range needs).
 * In both, every value's centroid is its nearest and, once converged, each
 * centroid is the float nearest the exact mean of its values (ties to
 * even).
 * Fails with SPZ_EINVAL on bad options or a 0 / non-finite value (naming
 * its index), SPZ_ENOMEM when out of memory (Lloyd: a sorted copy and
 * the radix sort's scratch, 8 bytes per value, plus 8 bytes per limb for
 * every 32nd value; optimal: 8 bytes per value per limb of sums and of
 * sums of squares, 16 for their double estimates, the DP's 24 plus
 * k n / 4 bytes).
 */
int spz_kmeans_1d(float *centroids, spz_kmeans_stats *stats,
                  const float *values, size_t n,
                  const spz_kmeans_options *opts, spz_error *err);

typedef struct spz_quant_options {
	int bits;        /* 1..8: codebook of at most 2^bits entries */
	int init;        /* spz_kmeans_init */
	int max_iter;    /* >= 0, the cap on Lloyd's steps */
	int optimal;     /* exact 1-D k-means */
	uint64_t seed;
	int requantize;  /* accept an already quantized tensor: dequantize it
	                    and quantize again (else SPZ_EUNSUPPORTED) */
	spz_progress_fn progress; /* may be NULL: the tensor's own progress */
	void *progress_ctx;
} spz_quant_options;
#define SPZ_QUANT_OPTIONS_INIT \
	{4, SPZ_KMEANS_LINEAR, SPZ_KMEANS_MAX_ITER, 0, 1, 0, NULL, NULL}

typedef struct spz_quant_stats {
	int bits;
	uint32_t codebook_size;  /* 1 + centroids */
	int64_t elements, nonzeros;
	int iterations, converged, exact;
	double mse;            /* mean over all elements of (w - q)^2 */
	double sqnr_db;        /* 10 log10(sum w^2 / sum (w - q)^2); INFINITY
	                          when the error is 0 */
	double max_abs_error;  /* max |w - q| */
} spz_quant_stats;

/*
 * Weight sharing for one tensor (Deep Compression §3): codebook entry 0 is
 * exactly 0.0 and is the code of every zero weight (-0.0 included);
 * entries 1..K are the spz_kmeans_1d centroids of the non-zero weights
 * (K = min(2^bits - 1, distinct non-zeros)), ascending, never 0.0; every
 * non-zero weight gets its nearest centroid (ties: the lower code). So the
 * non-zero count never changes. codebook_size = 1 + K may be below 2^bits;
 * an all-zero tensor gets the codebook {0}. On success t is quantized
 * (data freed); on failure it is unchanged. Fails with SPZ_EINVAL (bad
 * options), SPZ_ERANGE (a NaN or infinite weight: names the tensor and the
 * index), SPZ_EUNSUPPORTED (already quantized and not opts->requantize),
 * SPZ_ENOMEM. stats may be NULL.
 */
int spz_quantize_tensor(spz_quant_stats *stats, spz_tensor *t,
                        const spz_quant_options *opts, spz_error *err);

/* Makes a quantized tensor dense again (data = codebook[codes]); a dense
 * tensor is left alone. SPZ_ENOMEM leaves it unchanged. */
int spz_tensor_dequantize(spz_tensor *t, spz_error *err);

/*
 * Checks everything an EIE image must satisfy before it can be walked:
 * PE count 1..4096, index bits 2..8, at least one layer; per layer the
 * names (Gemm or MatMul, bias and activation consistent with their names,
 * a chain: each layer takes the previous output and as many inputs as it
 * gives), dims 1..2^31-1, codebook (1..2^code_bits entries, entry 0 is 0),
 * Q formats in SPZ_FRAC_MIN..SPZ_FRAC_MAX; per PE the pointers (from 0,
 * never decreasing, ending at n_entries), codes within the codebook,
 * indices within 2^index_bits - 1, decoded rows within the PE's rows,
 * code 0 only as padding (z at its maximum, before an entry of the same
 * column), and the recorded non-zero / padding counts. SPZ_EFORMAT or
 * SPZ_ERANGE with the layer, PE and entry at fault.
 */
int spz_eie_validate(const spz_eie *e, spz_error *err);

/*
 * Rebuilds the quantized model an image was packed from (after validating
 * it): the same graph (Gemm with transB=1 or MatMul, bias, Relu), the same
 * zero pattern and codes; each codebook holds the image's fixed-point
 * values (q / 2^frac, exact in float32) and each bias its fixed-point
 * values (as a 1-D tensor of rows). So pack -> unpack -> pack gives the
 * same image byte for byte. *out is a new model the caller frees.
 */
int spz_eie_unpack(spz_model **out, const spz_eie *e, spz_error *err);


/*
 * Plain sparse forms of one weight (spz pack --format csr|csc|nm).
 * CSR / CSC store the tensor viewed as a matrix [dims[0], product of the
 * other dims]: values (row by row / column by column), indices (column /
 * row of each value) and pointers (rows + 1 / cols + 1, from 0). N:M
 * stores, for every logical row (all dims but the reduction axis, in
 * row-major order) and every group of M consecutive elements along the
 * axis, min(N, group size) slots: the group's non-zeros and then its first
 * zeros as fillers, in position order, each with its position in the
 * group. A value is stored when its code is non-zero (quantized tensors,
 * values are codes) or its float32 bits are not all zero (-0.0 included),
 * so the trip back is exact.
 */
#define SPZ_SPARSE_CSC 2
#define SPZ_SPARSE_CSR 3
#define SPZ_SPARSE_NM 4

typedef struct spz_sparse {
	int format;            /* SPZ_SPARSE_* */
	int64_t rows, cols;    /* CSR/CSC: the matrix; NM: logical rows, K */
	int quantized, bits;   /* values are codes of `bits` bits */
	uint64_t n_values;
	float *values;         /* n_values floats (not quantized) */
	uint8_t *codes;        /* n_values codes (quantized) */
	uint32_t *indices;     /* column (CSR), row (CSC), position (NM) */
	uint64_t *pointers;    /* rows + 1 (CSR) / cols + 1 (CSC); NM: NULL */
	int nm_n, nm_m, nm_axis;
} spz_sparse;

typedef struct spz_sparse_options {
	int format;            /* SPZ_SPARSE_*, default CSR */
	int nm_n, nm_m;        /* NM pattern, default 2:4 */
	int axis;              /* NM group axis: spz_model_reduction_dim,
	                          the axis prune and info use */
} spz_sparse_options;
#define SPZ_SPARSE_OPTIONS_INIT {SPZ_SPARSE_CSR, 2, 4, 1}

/*
 * Fills *out (owned by the caller: spz_sparse_clear) with t in the chosen
 * form. NM fails with SPZ_EUNSUPPORTED naming the tensor, group and row
 * when a group holds more than N non-zeros; sides above 2^32 - 1 are
 * refused.
 */
int spz_sparse_from_tensor(spz_sparse *out, const spz_tensor *t,
                           const spz_sparse_options *o, spz_error *err);
/* Writes s back into t (same dims, same codebook when quantized) after
 * checking every pointer, index, position and code (SPZ_EFORMAT /
 * SPZ_ERANGE naming the tensor). */
int spz_sparse_to_tensor(spz_tensor *t, const spz_sparse *s,
                         spz_error *err);
/* Frees the arrays of s and zeroes it (NULL is fine). */
void spz_sparse_clear(spz_sparse *s);


/* ------------------------------------------------------------------ */
/* Cost report (spz report)                                            */

/*
 * What the cost model needs beyond the image. Densities are fractions of
 * non-zero input activations (0..1); a column of W is broadcast, and costs
 * work, only for a non-zero input, so every activity figure is the
 * expected value at that density.
 */
typedef struct spz_report_options {
	double act_density;          /* every layer's input density: 1.0 */
	const double *layer_act_density; /* NULL, or one per layer (wins) */
	double clock_mhz;            /* 800 */
	uint64_t sram_matrix_bytes;  /* sparse-matrix SRAM per PE: 128 KiB */
	uint64_t sram_pointer_bytes; /* pointer SRAM per PE: 32 KiB */
	spz_energy_table energy;     /* SPZ_ENERGY_TABLE_INIT */
	int nm_m;                    /* group size of the N:M check: 4 */
	uint64_t image_header_bits;  /* image-level header and framing: 0 */
	const uint64_t *layer_header_bits; /* NULL, or one per layer */
	/* NULL, or one per layer each: the bits of the real and of the
	 * padding entries as stored (a Huffman image), replacing entries x
	 * entry width in bits.entries / bits.padding and the totals. */
	const uint64_t *layer_entry_bits, *layer_padding_bits;
} spz_report_options;
#define SPZ_REPORT_OPTIONS_INIT \
	{1.0, NULL, 800.0, 131072, 32768, SPZ_ENERGY_TABLE_INIT, 4, 0, NULL, \
	 NULL, NULL}

/* Storage of a layer by part, in bits. */
typedef struct spz_report_bits {
	uint64_t entries;   /* real entries x entry width */
	uint64_t padding;   /* padding entries x entry width */
	uint64_t pointers;  /* pes x (cols + 1) x pointer width */
	uint64_t codebook;  /* codebook entries x 16 */
	uint64_t bias;      /* rows x 16 when the layer has a bias */
	uint64_t header;    /* as given in the options */
	uint64_t total;     /* the sum of the above */
} spz_report_bits;

/*
 * The same weights (bias excluded) in other formats, in bits, every one at
 * the image's value width: codes of code_bits plus the 16-bit codebook.
 * Indices take the fewest bits that hold them (column or row index:
 * ceil(log2 n); pointers: ceil(log2 (nonzeros + 1))). *_words are the
 * textbook counts: CSR 2 NNZ + rows + 1, CSC 2 NNZ + cols + 1, COO 3 NNZ,
 * dense rows x cols.
 */
typedef struct spz_report_formats {
	uint64_t eie;           /* entries + padding + pointers + codebook */
	uint64_t csr, csc, coo;
	uint64_t bitmask;       /* rows x cols bits + NNZ codes + codebook */
	uint64_t nm;            /* 0 when the pattern does not hold */
	int nm_n, nm_m;         /* tightest N for groups of M along the input
	                           dimension; 0 when none holds (N = M) */
	uint64_t codebook_only; /* Deep Compression: n log2 k + 32 k */
	double codebook_only_rate; /* n 32 / codebook_only */
	uint64_t dense;         /* rows x cols x 32 */
	uint64_t csr_words, csc_words, coo_words, dense_words;
	int csr_beats_dense;    /* NNZ < (rows (cols - 1) - 1) / 2 */
	int csr_beats_coo;      /* 2 NNZ + rows + 1 < 3 NNZ */
	const char *best;       /* static name of the smallest format */
} spz_report_formats;

/* Energy of one inference of a layer, in pJ, by activity. */
typedef struct spz_report_energy {
	double matrix_sram;  /* entries read (padding included) */
	double pointer_sram; /* two pointers per PE per broadcast column */
	double multiply;     /* one 16-bit multiply per real entry */
	double accumulate;   /* one 16-bit add per real entry */
	double bias;         /* one 16-bit add per row with a bias */
	double total;
	double dense_dram;   /* dense float32: weights and bias from DRAM */
	double dense_compute;/* dense float32: multiply and add per weight */
	double dense_total;
} spz_report_energy;

/* Figures of one layer; the report's total uses the same struct. */
typedef struct spz_report_layer {
	const char *name;    /* node name (owned by the image), "total" */
	int64_t rows, cols;  /* 0 in the total */
	int code_bits, index_bits, entry_bits, pointer_bits;
	uint32_t codebook_size;
	int has_bias;
	uint64_t nonzeros, padding;
	spz_report_bits bits;
	uint64_t dense_bits;       /* 32 x (rows x cols + bias rows) */
	double compression_ratio;  /* dense_bits / bits.total */
	spz_report_formats formats;
	double act_density;        /* total: macs_effective / macs_sparse */
	uint64_t macs_dense;       /* rows x cols */
	uint64_t macs_sparse;      /* non-zero weights */
	double macs_effective;     /* non-zero weights x act_density */
	/* Per PE (pes entries): entries including padding, padding, and the
	 * cycles of spz_eie_pe_work over every column. The total sums the
	 * layers. */
	uint64_t *pe_entries, *pe_padding, *pe_work;
	double cycles_theoretical; /* act_density x sum(pe_work) / pes */
	double cycles_estimate;    /* act_density x max(pe_work) */
	double load_balance;       /* theoretical / estimate (1 when 0) */
	double time_us;            /* estimate / clock */
	double per_second;         /* 1 / time (0 when the time is 0) */
	uint64_t sram_matrix_bytes;  /* busiest PE's entries, bytes */
	uint64_t sram_pointer_bytes; /* one PE's pointers, bytes */
	int sram_fits;               /* both within the capacities */
	spz_report_energy energy;
	double energy_ratio;       /* dense_total / total */
} spz_report_layer;

typedef struct spz_report {
	uint32_t pes;
	int index_bits;
	double clock_mhz;
	uint64_t sram_matrix_capacity, sram_pointer_capacity;
	size_t n_layers;
	spz_report_layer *layers;
	spz_report_layer total;
} spz_report;

/*
 * The cost report of an EIE image. The cycles are the analytical model of
 * spz_eie_pe_work scaled by the activation density, not an emulation.
 * The report points to the image's layer names: free it before the image.
 * Fails with SPZ_EINVAL on a density outside 0..1, a clock <= 0 or an N:M
 * group size outside 2..16; SPZ_ENOMEM.
 */
int spz_report_compute(spz_report **out, const spz_eie *e,
                       const spz_report_options *o, spz_error *err);
void spz_report_free(spz_report *r);

/*
 * Packs m as spz_eie_pack does, except that a Gemm/MatMul weight that is
 * not quantized is taken as `bits`-bit codes (1..8) marking its non-zeros
 * (codebook 0, 1, ..., 2^bits - 1; code 1 for every non-zero): the
 * storage, cycles and energy depend only on the zero pattern and the
 * widths. m is not changed.
 */
int spz_report_pack(spz_eie **out, const spz_model *m,
                    const spz_eie_options *o, int bits, spz_error *err);

/* Calls fn for every real entry (padding skipped) of layer l with its
 * row and column in W and its code, PE by PE, column by column. */
typedef void (*spz_eie_visit_fn)(void *ctx, int64_t row, int64_t col,
                                 uint8_t code);
void spz_eie_visit(const spz_eie *e, const spz_eie_layer *l,
                   spz_eie_visit_fn fn, void *ctx);

/*
 * Density of layer l's weights over a grid of block x block cells (the
 * smallest block that keeps both sides at most max_side cells), row-major,
 * *height = ceil(rows / block) rows of *width = ceil(cols / block) cells;
 * an edge cell's density is over the weights it covers. *out is malloc'd.
 */
int spz_report_density_grid(float **out, uint32_t *width, uint32_t *height,
                            uint32_t *block, const spz_eie *e,
                            const spz_eie_layer *l, uint32_t max_side,
                            spz_error *err);

/* A histogram of the non-zero weights of a layer, with marks (codebook
 * centroids) to draw on it. */
typedef struct spz_histogram {
	size_t n_bins;
	double lo, hi;     /* bins split [lo, hi] evenly; lo == hi: one value */
	uint64_t *bins;
	uint64_t count;    /* non-zero weights binned */
	uint64_t zeros;    /* zero weights, not binned */
	size_t n_marks;
	double *marks;     /* centroids, ascending */
} spz_histogram;

/* From a model tensor: its non-zero values; when quantized, its centroids
 * are the marks. n_bins >= 1. */
int spz_histogram_of_tensor(spz_histogram **out, const spz_tensor *t,
                            size_t n_bins, spz_error *err);
/* From an image layer: the codebook value (fixed point decoded) of every
 * real entry; the codebook's non-zero entries are the marks. */
int spz_histogram_of_layer(spz_histogram **out, const spz_eie *e,
                           const spz_eie_layer *l, size_t n_bins,
                           spz_error *err);
void spz_histogram_free(spz_histogram *h);

/* ------------------------------------------------------------------ */
/* Figures (rasterized in memory; formats/ writes them as PNG)         */

/*
 * An RGB image, 8 bits per channel, rows top to bottom. plot_* is the
 * rectangle where the data is drawn (axes and legends lie outside it).
 */
typedef struct spz_rgb {
	uint32_t width, height;
	uint8_t *pixels;  /* width x height x 3 */
	uint32_t plot_x, plot_y, plot_w, plot_h;
} spz_rgb;

void spz_rgb_free(spz_rgb *img);

/*
 * Density heatmap of a grid from spz_report_density_grid: white (0) to
 * dark blue (the densest cell, or 1 when all are 0) along a linear ramp
 * (spz_figure_ramp of density / densest), one grid cell per
 * zoom x zoom pixels, zoom the largest integer keeping the longer side at
 * most 512 px (at least 1), so the plot is grid x zoom; axes in weight
 * rows and columns, a title and a colour bar.
 */
int spz_figure_heatmap(spz_rgb **out, const float *grid, uint32_t width,
                       uint32_t height, uint32_t block, int64_t rows,
                       int64_t cols, const char *title, spz_error *err);
/* Colour of density d (clamped to 0..1) on the heatmap's ramp. */
void spz_figure_ramp(uint8_t rgb[3], double d);

/* Histogram bars with each mark drawn as a red vertical line; axes,
 * title, legend. */
int spz_figure_histogram(spz_rgb **out, const spz_histogram *h,
                         const char *title, spz_error *err);

/* Bars of entries per PE, real entries (blue) stacked under padding
 * (orange), with a dashed line at the mean; axes, title, legend. Over
 * 1024 PEs, each pixel column shows the largest of the PEs it covers. */
int spz_figure_pe_bars(spz_rgb **out, const uint64_t *entries,
                       const uint64_t *padding, uint32_t pes,
                       const char *title, spz_error *err);

/* Lines of n_series series over the same nx x values (y holds n_series
 * rows of nx values), a marker at each point, one colour per series
 * (eight, then repeated) with its name in the legend (the first 18);
 * the y axis spans at least [0, 1]. SPZ_EINVAL without points. */
int spz_figure_lines(spz_rgb **out, const double *x, size_t nx,
                     const double *y, size_t n_series,
                     const char *const *names, const char *title,
                     const char *xlabel, const char *ylabel, spz_error *err);

/* Grouped bars of speedups: speedup[g * n_series + s] for layer g and
 * design s (a negative or non-finite value draws no bar), a dashed line at
 * 1x, a legend of the series (1..4; colours blue, orange, green, grey in
 * that order); over 60 groups every 60th-part is sampled. */
int spz_figure_speedup_bars(spz_rgb **out, const double *speedup,
                            size_t n_groups, size_t n_series,
                            const char *const *groups,
                            const char *const *series, const char *title,
                            spz_error *err);

/* Draws text with spz's 5x7 bitmap font (upper case; lower case letters
 * are drawn as upper case, characters it lacks as a box) at (x, y), the
 * top left corner, each font pixel a scale x scale square; clipped. */
void spz_rgb_text(spz_rgb *img, int x, int y, const char *text,
                  const uint8_t rgb[3], int scale);


/* ------------------------------------------------------------------ */
/* Fixed-point inference and the EIE emulator (spz run)                */

/*
 * The arithmetic of a layer y = act(W x + b), shared bit for bit by the
 * functional reference (spz_eie_fixed_layer) and the emulator:
 *  - x is int16 in Q(fin) and a weight is its int16 codebook entry in
 *    Q(codebook_frac): every product is exact in 32 bits, in Q(s) with
 *    s = codebook_frac + fin;
 *  - each row accumulates its products in increasing column order in a
 *    SPZ_ACC_BITS-bit two's-complement accumulator that saturates to
 *    [-2^47, 2^47 - 1] after every addition (the order only matters once it
 *    saturates; both implementations keep it);
 *  - when the layer ends, the bias (int16 in Q(bias_frac)) is aligned to
 *    Q(s) -- shifted left with saturation to 48 bits, or right with
 *    rounding half away from zero -- and added with saturation;
 *  - the sum is rescaled to Q(fout) (multiplied by 2^(fout - s), rounding
 *    half away from zero) and saturated to int16; Relu then clamps
 *    negatives to 0.
 * Activations of layer l's input are in Q(frac[l]), its output (the next
 * layer's input) in Q(frac[l + 1]): a run needs n_layers + 1 formats.
 */
#define SPZ_ACC_BITS 48

/*
 * Finishes row `row` of layer l: bias, rescale, activation, as described
 * above. acc is the row's accumulator in Q(codebook_frac + fin).
 * *saturated (may be NULL) is incremented when the bias alignment, the bias
 * addition or the int16 result saturated.
 */
int16_t spz_eie_finish_row(int64_t acc, const spz_eie_layer *l, int64_t row,
                           int fin, int fout, uint64_t *saturated);

/*
 * Functional fixed-point reference of one layer: y (l->rows int16 in
 * Q(fout)) from x (l->cols int16 in Q(fin)), walking the image's columns
 * with no notion of time. e must pass spz_eie_validate (as spz_eie_pack's
 * and spz_eie_load's images do; the references do not re-check it).
 * SPZ_EINVAL for a layer index or Q format out of range, SPZ_ENOMEM.
 */
int spz_eie_fixed_layer(int16_t *y, const spz_eie *e, size_t layer,
                        const int16_t *x, int fin, int fout, spz_error *err);
/* The reference through every layer: x has layers[0].cols values in
 * Q(frac[0]), y gets the last layer's rows in Q(frac[n_layers]). */
int spz_eie_fixed_forward(int16_t *y, const spz_eie *e, const int *frac,
                          const int16_t *x, spz_error *err);

/*
 * The dense float32 model recovered from the image: weights are the
 * fixed-point codebook entries as floats, bias likewise, activations
 * float32, each row summed in increasing column order, then bias and
 * activation. y gets the last layer's rows. lo and hi (both NULL, or
 * n_layers + 1 entries the caller initialized) are widened to the range of
 * each layer's input and, last, of the output.
 */
int spz_eie_float_forward(float *y, const spz_eie *e, const float *x,
                          float *lo, float *hi, spz_error *err);

/*
 * Chooses the n_layers + 1 activation Q formats of a run from a pass of the
 * float model over the batch (batch vectors of layers[0].cols floats):
 * frac[l] is the largest fraction width that holds the whole range seen at
 * layer l's input (spz_fixed_frac of its minimum and maximum). SPZ_ERANGE
 * names the vector and index of a NaN or infinite input.
 */
int spz_eie_calibrate(int *frac, const spz_eie *e, const float *x,
                      size_t batch, spz_error *err);

/*
 * Error of an output vector against its float reference: *max_abs is the
 * largest |got[i] - want[i]|, *max_rel that divided by the largest
 * |want[i]| (relative to the output's range, since a per-element ratio
 * explodes near zero; *max_abs itself when want is all zero).
 */
void spz_output_error(double *max_abs, double *max_rel, const float *want,
                      const float *got, size_t n);

/*
 * The cycle-level EIE emulator (Han et al., ISCA 2016, section IV). Each
 * cycle of a layer, in this order, from the state at the start of the
 * cycle:
 *  - central control unit (CCU): leading non-zero detection skips zero
 *    activations at no cost; the first broadcast happens at cycle
 *    L = max(1, ceil(log4 pes)) (the depth of the detection quadtree), and
 *    from then on one (a_j, j) per cycle is pushed to every PE's FIFO,
 *    unless some FIFO is full at the start of the cycle (a CCU stall);
 *  - each PE, sparse-matrix read unit: issues one entry (real or padding)
 *    of its current column per cycle into the arithmetic pipeline; when the
 *    column is done it takes the next one from the pointer register in the
 *    same cycle, so columns stream back to back;
 *  - each PE, pointer read unit: when the pointer register is free (or
 *    freed by the read unit this cycle) and the FIFO holds an activation
 *    pushed in an earlier cycle, pops it and reads p[j], p[j+1] (two banks,
 *    one cycle); an empty column ends there, costing that cycle;
 *  - arithmetic: an entry issued at cycle t is decoded (codebook lookup,
 *    row address) at t+1, multiplied at t+2, added at t+3 and written at
 *    t+4; a bypass forwards the sum to an entry of the same row issued one
 *    or two cycles later, so it never stalls (counted in `bypasses`);
 *  - the compute phase ends at the first cycle E >= L after every
 *    activation was broadcast and popped, every column streamed and the
 *    last write done (last issue + 5); then every PE finishes its rows, one
 *    per cycle (bias, rescale, Relu, write to the destination register):
 *    the layer takes E + ceil(rows / pes) cycles, so an all-zero input
 *    costs exactly the fixed L + ceil(rows / pes).
 * Per PE and cycle: busy (issued an entry, read pointers or finished a
 * row), stalled (not busy while the CCU was stalled by a full FIFO, so the
 * PE starved because of another one), idle (anything else: detection
 * latency, pipeline drain, waiting for the layer to end). Every cycle is
 * stepped; nothing is skipped.
 */
typedef struct spz_emu spz_emu;

/* One line of the trace. pe is -1 for the CCU; col and row are -1 when
 * they do not apply (row is the global output row). */
typedef struct spz_emu_event {
	uint64_t cycle;     /* counted from the emulator's creation */
	int32_t pe;
	const char *event;  /* "bcast", "stall" (CCU); "ptr", "mac", "pad",
	                       "finish", "idle", "stall" (PE) */
	uint32_t layer;
	int64_t col, row;
} spz_emu_event;
/* Returns 0, or a negative spz_err code that stops the run. */
typedef int (*spz_emu_trace_fn)(void *ctx, const spz_emu_event *ev);

typedef struct spz_emu_options {
	uint32_t fifo_depth;     /* activation FIFO entries per PE, >= 1 */
	double clock_mhz;        /* for time_us, > 0 */
	spz_energy_table energy; /* per-access energies */
	spz_emu_trace_fn trace;  /* NULL: no trace */
	void *trace_ctx;
	uint64_t trace_from, trace_to; /* cycles from <= c < to are traced */
} spz_emu_options;
#define SPZ_EMU_OPTIONS_INIT {8, 800.0, SPZ_ENERGY_TABLE_INIT, NULL, NULL, 0, 0}

/* Minimum, mean and maximum over the PEs. */
typedef struct spz_emu_range {
	uint64_t min;
	double mean;
	uint64_t max;
} spz_emu_range;

/* Statistics of one layer, summed over every run so far. */
typedef struct spz_emu_layer_stats {
	uint64_t cycles;
	uint64_t cycles_fixed;       /* L + ceil(rows / pes) per run */
	uint64_t cycles_theoretical; /* ceil(work / pes) per run */
	uint64_t cycles_analytical;  /* max over PEs of work per run: the
	                                estimate behind spz report */
	uint64_t work;               /* sum of spz_eie_pe_work over PEs */
	double load_balance;         /* busy / (pes * cycles) */
	uint64_t entries;            /* issued, padding included */
	uint64_t padding_entries;
	uint64_t broadcasts;         /* non-zero activations broadcast */
	uint64_t ccu_stall_cycles;   /* the CCU held a broadcast back */
	uint64_t pointer_reads;      /* one per PE per broadcast */
	uint64_t matrix_reads;       /* 64-bit sparse-matrix SRAM rows read */
	uint64_t act_reads;          /* input activations scanned by the CCU */
	uint64_t bypasses;           /* forwarded same-row updates */
	uint64_t saturations;        /* accumulator, bias or output */
	uint64_t act_in, act_in_nonzero, act_out, act_out_nonzero;
	uint64_t fifo_occupancy;     /* sum over cycles and PEs */
	uint32_t fifo_max;
	spz_emu_range pe_busy, pe_idle, pe_stalled;
	double energy_pj, time_us;
	int frac_in, frac_out;       /* Q formats of the last run */
} spz_emu_layer_stats;

typedef struct spz_emu_stats {
	uint64_t runs;
	uint64_t cycles;
	double time_us, energy_pj;
	size_t n_layers;
	spz_emu_layer_stats *layers;
} spz_emu_stats;

/*
 * An emulator for image e (which must outlive it), after spz_eie_validate.
 * SPZ_EINVAL for a FIFO depth of 0 or a clock <= 0.
 */
int spz_emu_new(spz_emu **out, const spz_eie *e, const spz_emu_options *opts,
                spz_error *err);
void spz_emu_free(spz_emu *emu);
/*
 * Runs one input vector x (layers[0].cols int16 in Q(frac[0])) through every
 * layer; y gets the last layer's rows in Q(frac[n_layers]), bit-identical
 * to spz_eie_fixed_forward. Statistics accumulate over runs. Errors:
 * SPZ_EINVAL for a Q format out of range, or the trace callback's code.
 */
int spz_emu_run(spz_emu *emu, int16_t *y, const int16_t *x, const int *frac,
                spz_error *err);
/* Statistics so far (owned by emu, updated by every run). */
const spz_emu_stats *spz_emu_stats_get(const spz_emu *emu);
/* Total cycles stepped so far (the next run starts at this cycle). */
uint64_t spz_emu_cycle(const spz_emu *emu);


#ifdef __cplusplus
}
#endif

#endif
