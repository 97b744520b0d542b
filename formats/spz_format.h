/*
 * spz_format.h - readers and writers of spz's file formats (see
 * formats/README.md for every byte and key), and the safe-output helper.
 *
 * Same conventions as spz.h. Every message names the file it is about:
 * "'path': what is wrong". A path of "-" means stdin / stdout.
 */
#ifndef SPZ_FORMAT_H
#define SPZ_FORMAT_H

#include <stdio.h>

#include "spz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The versions spz writes when a model needs them (tensors of other data
 * types, an ONNX record: formats/README.md); models that do not are
 * written as version 1, which every spz reads. Readers take 1 and 2. */
#define SPZ_JSON_FORMAT_VERSION 2
#define SPZ_SPZM_VERSION 2
#define SPZ_SPZM_MAGIC "SPZM\r\n\032\n"
#define SPZ_SPZM_ALIGN 64

/* What a file is, from its first bytes. */
typedef enum spz_file_kind {
	SPZ_FILE_UNKNOWN = 0,
	SPZ_FILE_JSON = 1,  /* JSON (starts with '{' or '[' after blanks) */
	SPZ_FILE_SPZM = 2,  /* binary model */
	SPZ_FILE_IMAGE = 3, /* a packed image (spz pack) */
	SPZ_FILE_ONNX = 4   /* an ONNX ModelProto */
} spz_file_kind;

/* Kind of a file from its first bytes (at least 8 of them when there are). */
spz_file_kind spz_file_kind_of(const unsigned char *head, size_t n);

/* Model format wanted for an output path, from its extension: ".json",
 * ".spzm" or ".onnx"; SPZ_FILE_UNKNOWN otherwise (and for "-"). */
spz_file_kind spz_format_for_path(const char *path);

/* ------------------------------------------------------------------ */
/* Input                                                               */

/*
 * An opened input: a path or stdin, with the first bytes already read so
 * that the kind of a pipe can be sniffed without seeking.
 */
typedef struct spz_input {
	int fd;
	int own_fd;
	const char *label;       /* path as given, or "<stdin>" */
	char dir[4096];          /* folder that relative paths resolve against */
	unsigned char head[16];
	size_t n_head, head_pos;
	unsigned long long consumed; /* bytes handed out so far */
	uint64_t size;           /* of a regular file; 0: unknown (a pipe) */
	/* Set after spz_input_open to hear of a model's reading: called
	 * with done bytes of size as the reader gets through them (about
	 * once per MB or per tensor), done == size at the end; never for
	 * an input of unknown size. NULL (what open leaves): no calls. */
	spz_progress_fn progress;
	void *progress_ctx;
	/* Set after spz_input_open: a .spzm tensor stored as a bitmask is
	 * read into the sparse form of spz_tensor (mask and values, never
	 * expanded) instead of the dense one. 0 (what open leaves): every
	 * tensor dense, as every command but pack expects. */
	int keep_sparse;
	/* 1: float32 payloads of a model file are mapped, not copied
	 * (spz_input_borrow, spz_tensor.data_borrowed); 0: every tensor
	 * gets memory of its own (read() into it). spz_input_open sets it
	 * from the environment (SPZ_MMAP=1); a caller may change it before
	 * reading. Mapping saves the copy and the memory, and is fastest
	 * when the page cache holds the file in 2 MiB folios (mapped 2 MiB
	 * at a time); in small folios each 4 KiB page costs a fault on its
	 * first touch, which on the VM spz is developed on costs more than
	 * read() into huge pages: hence the default (formats/README.md,
	 * "Mapped payloads"). A caller that rewrites most weights in place
	 * should copy: a copy-on-write fault per page costs far more. */
	int map_payloads;
	/* Not 0: a dense float32 .spzm payload of at least this many bytes
	 * in a regular file is not read: its tensor is left deferred
	 * (spz_tensor.src, data NULL), its values read from the file when a
	 * consumer asks, checksum and values verified by a pass in order
	 * (the structure, lengths and padding are checked as usual while
	 * the model is read). For a command that reads each weight once,
	 * in order, into cache-sized pieces (spz prune into a .spzm): no
	 * memory for the values at all (SPZ_DEFER_MIN is what spz prune
	 * gives). 0 (what open leaves): read. */
	uint64_t defer_values;
	/* The whole file, mapped by spz_input_borrow for tensors to point
	 * into; handed to the model by spz_input_give_map, else unmapped by
	 * spz_input_close. */
	unsigned char *map;
	size_t map_len;
} spz_input;

/* Opens path ("-" = stdin) and reads its first bytes. Directories,
 * unreadable and empty files are refused with a message. */
int spz_input_open(spz_input *in, const char *path, spz_error *err);
void spz_input_close(spz_input *in);
/* Kind of the opened input. */
spz_file_kind spz_input_kind(const spz_input *in);
/* Reads exactly n bytes; a short read is SPZ_EFORMAT "truncated in what". */
int spz_input_read(spz_input *in, void *buf, size_t n, const char *what,
                   spz_error *err);
/* Bytes left to read when the input is a regular file (the size is
 * known: a reader checks declared lengths against it before allocating);
 * -1 for a pipe or a terminal. */
int64_t spz_input_left(const spz_input *in);
/* Maps the next n bytes of a regular file read-only, its pages populated
 * up front (one fault per page would cost more than read() copying them),
 * and moves the input past them as reading them would: *p points at
 * them, *map and *map_len go to spz_input_unmap. For a reader that only
 * looks at the bytes (decoding them elsewhere), this saves the buffer
 * read() would fill and the copy. -1 (nothing changed) when the input
 * is not a regular file or the bytes are not all there: read instead. */
int spz_input_map(spz_input *in, uint64_t n, const unsigned char **p,
                  void **map, size_t *map_len);
void spz_input_unmap(void *map, size_t map_len);
/*
 * For tensors that point into the file instead of holding a copy
 * (spz_tensor.data_borrowed): maps the whole file once (private, read
 * only while its pages are populated, then writable: a page written
 * later is copied then, and the file never changes), *p = the next n
 * bytes, and moves the input past them as reading them would. -1
 * (nothing changed) when the input is standard input or not a regular
 * file, in->map_payloads is 0, the host is big-endian (file floats are
 * little-endian), the bytes are not all there or their offset in the
 * file is not a multiple of align: read (copy) instead. A process that
 * truncates the file while it is mapped makes later reads of the lost
 * pages fault (SIGBUS), as with every mmap-based loader; spz's own
 * outputs replace files by rename, which leaves the mapped file whole.
 */
int spz_input_borrow(spz_input *in, uint64_t n, uint64_t align,
                     const unsigned char **p);
/* Maps the whole file as spz_input_borrow does, without moving: *base,
 * *len. -1 in the same cases. */
int spz_input_map_file(spz_input *in, const unsigned char **base,
                       size_t *len);
/* The defer_values of spz prune: payloads of 1 MiB and more. */
#define SPZ_DEFER_MIN ((uint64_t)1 << 20)
/* For a deferred payload (spz_input.defer_values): a descriptor of its
 * own for the file (*fd, close-on-exec; the caller closes it) and the
 * offset of the next n bytes in it (*offset), and moves the input past
 * them as reading them would. -1 (nothing changed) when the input is not
 * a regular file, the host is big-endian or the bytes are not all
 * there: read instead. */
int spz_input_defer(spz_input *in, uint64_t n, int *fd, uint64_t *offset);
/* Hands in's whole-file mapping (if any) to m, which unmaps it when
 * freed: call it before the model leaves the reader, on success and on
 * failure alike (then free the model). SPZ_ENOMEM (the mapping stays
 * in's). */
int spz_input_give_map(spz_input *in, spz_model *m);
/* Tells in->progress (when set and the size is known) that done bytes
 * of the input are read. */
void spz_input_progress(const spz_input *in, uint64_t done);
/* Reads everything left into a malloc'd NUL-terminated buffer, at most
 * cap bytes (a regular file larger than that is refused before a byte is
 * read; a pipe when it passes the cap); what names the kind of input in
 * that message ("a raw run input"). */
int spz_input_slurp(char **buf, size_t *len, spz_input *in, uint64_t cap,
                    const char *what, spz_error *err);
/* Opens path ("-" = stdin), reads all of it like spz_input_slurp, closes. */
int spz_slurp_path(char **buf, size_t *len, const char *path, uint64_t cap,
                   const char *what, spz_error *err);
/* The message for an input over its cap: "'x': more than 16 MiB, the
 * most WHAT may hold". */
int spz_input_too_big(const char *label, uint64_t cap, const char *what,
                      spz_error *err);

/*
 * Opens location, a path relative to the folder dir (external data of a
 * JSON or ONNX model), for reading: refuses an empty or absolute path, any
 * ".." component, and any path that a symbolic link would lead outside
 * dir (a link with an absolute target, or one climbing above dir with
 * ".."), all with "location '...' must be a relative path inside the
 * model's folder". Links that stay inside dir are followed. Anything but
 * a regular file is refused without being opened ("cannot open 'P': a
 * FIFO, not a regular file", "... Is a directory"), so a FIFO cannot
 * block. *fd (the caller closes it) and *size in bytes on success.
 * Messages do not name the model file: the caller prefixes it.
 */
int spz_open_inside(int *fd, uint64_t *size, const char *dir,
                    const char *location, spz_error *err);

/* ------------------------------------------------------------------ */
/* Output: temporary file beside the target, named on commit           */

typedef struct spz_output {
	FILE *f;
	char *path;  /* target, NULL for stdout */
	char *tmp;   /* name of the temporary (or the one it takes for an
	              * instant when it is unnamed); NULL when in place */
	int unnamed; /* the temporary has no name (O_TMPFILE) */
} spz_output;

/* Opens a temporary file in the folder of path (or stdout for "-"): an
 * unnamed one (O_TMPFILE) where the file system allows, so that even a
 * SIGKILL leaves nothing behind, else "path.tmpPID.N". A directory is
 * refused; an existing path that is not a regular file (/dev/null, a
 * FIFO) is written in place, since a rename would replace the node. */
int spz_output_open(spz_output *o, const char *path, spz_error *err);
/* Flushes, checks for write errors, fsyncs a temporary file and gives it
 * the target's name atomically (link, or rename over an existing file). */
int spz_output_commit(spz_output *o, spz_error *err);
/* Closes and removes the temporary file (safe after a failed commit). */
void spz_output_abort(spz_output *o);

/* The reason for a failed write to f, for a message: "output closed
 * early" for EPIPE, also found when e is 0 or EIO (stdio keeps no errno
 * with its error flag) and f is a pipe or socket whose reader has gone;
 * else strerror(e), EIO for 0. */
const char *spz_write_error(FILE *f, int e);

/*
 * Optional hook for the program: the library calls it (when the program
 * defines it; it is a weak reference) with live = 1 just before a named
 * temporary output file tmp may come to exist, and live = 0 once it is
 * gone or renamed. spz removes the live ones when SIGINT, SIGTERM or
 * SIGHUP stops it (cmd/cleanup.c). Called outside any signal handler.
 */
void spz_temp_note(const char *tmp, int live);

/* ------------------------------------------------------------------ */
/* Models                                                              */

/* Reads a JSON or binary model (by content), validates it. */
int spz_model_load(spz_model **out, const char *path, spz_error *err);
/* Reads a model from an already opened input. */
int spz_model_read(spz_model **out, spz_input *in, spz_error *err);

/* Writes m as kind (SPZ_FILE_JSON or SPZ_FILE_SPZM) to f. A model that
 * spz_model_validate refuses (a NaN, a code outside its codebook, ...) is
 * refused with its message and f left as it was: what spz writes reads
 * back. (Into a regular file that ends where f stands, the .spzm and ONNX
 * writers check big tensors as they write them and cut the file back.) */
int spz_model_write(FILE *f, const spz_model *m, spz_file_kind kind,
                    spz_error *err);
/* Writes m to path ("-" = stdout) atomically; the message starts with
 * "cannot write 'path': ". */
int spz_model_save(const spz_model *m, const char *path, spz_file_kind kind,
                   spz_error *err);
/*
 * Putting the stored values of one tensor that N:M pruning makes sparse
 * straight where a .spzm writer puts them, so that they never sit in
 * memory nor are written twice (a 2:4 layer of 151 MB: 75 MB of each).
 * spz_spzm_placer_new prepares it for spz_prune_model(m, items, n_items,
 * opts) writing into o (spz_output_open; a regular file, nothing written
 * yet): for the biggest of the items' tensors whose values are still in
 * a file (spz_tensor.src, at least 1 MiB) it guesses where the model,
 * once pruned, will have those values (m as it stands, its history
 * included, the items pruned as spz_prune_predict says, the thresholds
 * and CRCs not yet known as long as most are), and fills *sink for
 * opts->sink. *out is NULL and nothing is filled when there is nothing
 * to place (another mode, no such tensor, o not an empty regular file);
 * every tensor that is not an item must have its values in memory
 * (SPZ_EINVAL). The values put are checked (NaN, infinity: the pass
 * fails), their CRC kept, and after the pass the tensor's values are
 * deferred to o's file (spz_tensor.src, on a descriptor of its own).
 * Writing the model to o then leaves them where they are when the guess
 * held; else (a threshold or a CRC of another length than guessed) they
 * are read back first and written where they belong. The placer may be
 * freed (spz_spzm_placer_free, NULL allowed) as soon as the pass is over.
 */
typedef struct spz_spzm_placer spz_spzm_placer;
int spz_spzm_placer_new(spz_spzm_placer **out, spz_value_sink *sink,
                        spz_output *o, const spz_model *m,
                        const spz_prune_item *items, size_t n_items,
                        const spz_prune_options *opts, spz_error *err);
void spz_spzm_placer_free(spz_spzm_placer *p);

/* What spz_model_save_opts may be told; SPZ_SAVE_OPTS_INIT: nothing. */
typedef struct spz_save_opts {
	/* May be NULL: told the elements of the tensors written out of all
	 * of them, about once per 64 KiB of JSON text (where the time
	 * goes) and per 8 MiB of .spzm, ONNX or external data written,
	 * ending at the total for every format. */
	spz_progress_fn progress;
	void *progress_ctx;
	/* NULL, or the output to write (opened by spz_output_open on this
	 * path, nothing or only placed values written): committed on
	 * success, aborted on failure. */
	spz_output *output;
} spz_save_opts;
#define SPZ_SAVE_OPTS_INIT {NULL, NULL, NULL}
/* spz_model_save with options (NULL: none). */
int spz_model_save_opts(const spz_model *m, const char *path,
                        spz_file_kind kind, const spz_save_opts *opts,
                        spz_error *err);

/*
 * Writes m as JSON to path with the data of every dense tensor of at least
 * threshold bytes (4 per element) in the raw file external instead, a
 * file name put beside path (its directory part is dropped, as for
 * spz_onnx_save): little-endian float32, tensor after tensor, referenced
 * by "external_data". Both files are written atomically; the model is
 * committed last. Quantized and raw tensors stay in the JSON.
 */
int spz_json_save_external(const spz_model *m, const char *path,
                           const char *external, uint64_t threshold,
                           spz_error *err);
/* The same with options (NULL: none): progress through both files. */
int spz_json_save_external_opts(const spz_model *m, const char *path,
                                const char *external, uint64_t threshold,
                                const spz_save_opts *opts, spz_error *err);

/*
 * ONNX (formats/README.md, "ONNX"). spz_model_read reads it by content or
 * by a ".onnx" name; spz_model_write / save write it for SPZ_FILE_ONNX
 * with every tensor inline. spz_onnx_write can put tensors of 1 KiB or
 * more in ext instead, referenced as ext_location (relative to the
 * model's folder); spz_onnx_save does so when external is not NULL,
 * writing that file beside path, both atomically.
 */
int spz_onnx_read(spz_model **out, spz_input *in, spz_error *err);
int spz_onnx_write(FILE *f, const spz_model *m, FILE *ext,
                   const char *ext_location, spz_error *err);
int spz_onnx_save(const spz_model *m, const char *path,
                  const char *external, spz_error *err);
/* The same with options (NULL: none): progress through both files. */
int spz_onnx_save_opts(const spz_model *m, const char *path,
                       const char *external, const spz_save_opts *opts,
                       spz_error *err);

/* The dims of graph input `name` as the ONNX model that m was read from
 * records them (its ValueInfoProto): 1 with dims/ndims set, a symbolic
 * dim ("batch", as exporters write the batch) or one without a value
 * given as -1; 0 when m did not come from ONNX or the input has no
 * shape. */
int spz_onnx_input_dims(int64_t *dims, int *ndims, const spz_model *m,
                        const char *name);

/* CRC32 (zlib polynomial) of n bytes continuing from crc (start with 0). */
uint32_t spz_crc32(uint32_t crc, const void *buf, size_t n);
/* The CRC32 of A followed by B from crc_a, crc_b and B's length. */
uint32_t spz_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
/* Whether a stored CRC differs from the computed one: every reader
 * compares through this. A fuzzing build (-DSPZ_FUZZ_NO_CRC, make fuzz)
 * accepts any CRC so that mutated files reach the field checks. */
int spz_crc_mismatch(uint32_t stored, uint32_t computed);

/* Overrides entries of *t from a JSON object of pJ values (keys are the
 * spz_energy_table field names; unknown keys and negative values are
 * refused). *t is unchanged on failure. */
int spz_energy_load(spz_energy_table *t, const char *path, spz_error *err);

/* One rule of a prune config: the tensors whose names match glob (an
 * fnmatch(3) pattern, spz_glob_ok) are pruned to sparsity. */
typedef struct spz_prune_rule {
	char *glob;
	double sparsity;   /* in [0, 1) */
} spz_prune_rule;

/*
 * Reads a prune config ("-" = stdin; formats/README.md "Prune config"):
 * {"rules": [{"match": GLOB, "sparsity": S}, ...]}, no other key. The
 * message names the file and the rule at fault. *rules (*n of them, in
 * file order) is the caller's to free with spz_prune_rules_free.
 */
int spz_prune_config_load(spz_prune_rule **rules, size_t *n,
                          const char *path, spz_error *err);
void spz_prune_rules_free(spz_prune_rule *rules, size_t n);

/* Overrides entries of *t from a JSON object (keys are the
 * spz_arch_table field names, formats/README.md "Architecture table");
 * unknown keys and values that are not finite numbers above 0 are
 * refused. *t is unchanged on failure. */
int spz_arch_table_load(spz_arch_table *t, const char *path,
                        spz_error *err);


/*
 * Activation zero patterns (formats/README.md "Activity masks"): for each
 * layer its input shape (CHW) and, for every sample, one bit per input
 * neuron (1 = non-zero). What `spz eval --activity-out` writes and
 * `spz report --activity` reads for Cnvlutin.
 */
#define SPZ_ACTIVITY_MAGIC "SPZACT\r\n"
typedef struct spz_activity_layer {
	char *name;
	uint32_t c, h, w;
	uint8_t *mask;       /* n_samples x (c h w) bytes, 0 or 1, CHW */
} spz_activity_layer;

typedef struct spz_activity {
	uint32_t n_samples;
	size_t n_layers;
	spz_activity_layer *layers;
} spz_activity;

/* 1 when the opened file starts with SPZ_ACTIVITY_MAGIC (peeks only). */
int spz_activity_sniff(const char *path);
/* Reads and validates every field (magic, version, counts, names, shapes,
 * sizes against the file, zero pad bits, CRCs, unique names, nothing
 * after the end); messages name the file and the layer. */
int spz_activity_load(spz_activity **out, const char *path, spz_error *err);
/* Writes a atomically to path ("-" = stdout). */
int spz_activity_save(const spz_activity *a, const char *path,
                      spz_error *err);
void spz_activity_free(spz_activity *a);


/*
 * Packed images (spz pack): every one starts with SPZ_IMAGE_MAGIC, a u16
 * version and a kind byte (formats/README.md, "Images").
 */
#define SPZ_IMAGE_MAGIC "SPZI\r\n\032\n"
#define SPZ_IMAGE_VERSION 1
#define SPZ_IMAGE_EIE 1
#define SPZ_IMAGE_CSC 2
#define SPZ_IMAGE_CSR 3
#define SPZ_IMAGE_NM 4
/* An EIE image whose entry sections are Huffman-coded (spz pack
 * --huffman); read into the same spz_eie. */
#define SPZ_IMAGE_EIE_HUFF 5

/* Kind (SPZ_IMAGE_*) of an opened input that is an image, else 0. */
int spz_image_kind(const spz_input *in);

/*
 * Reads an EIE image file ("-" = stdin) and validates every field: magic,
 * version, kind (a CSC/CSR/N:M image is refused by name), each section's
 * CRC32 and length against the file, then spz_eie_validate. Messages
 * name the file. *out is a new image the caller frees (spz_eie_free).
 */
int spz_eie_load(spz_eie **out, const char *path, spz_error *err);
/* Same from an already opened input (reads it to the end). */
int spz_eie_read(spz_eie **out, spz_input *in, spz_error *err);
/* Writes e (validated first) as an EIE image file to f. */
int spz_eie_write(FILE *f, const spz_eie *e, spz_error *err);
/* Writes e to path ("-" = stdout) atomically (spz_output). */
int spz_eie_save(const spz_eie *e, const char *path, spz_error *err);
/* The same as a Huffman image (kind SPZ_IMAGE_EIE_HUFF: per layer a
 * canonical Huffman code of the codes and one of the relative indices,
 * Deep Compression section 4). spz_eie_read reads both kinds. */
int spz_eie_write_huffman(FILE *f, const spz_eie *e, spz_error *err);
int spz_eie_save_huffman(const spz_eie *e, const char *path,
                         spz_error *err);
/* Storage of layer l in a Huffman image, in bits: its real entries and
 * its padding entries as coded (the code of v plus the code of z each),
 * and everything else of the layer on file but pointers, codebook and
 * bias (descriptor fields and names, code-length tables, entry counts,
 * stream lengths, CRCs, byte padding of the streams). The codes are
 * those spz_eie_write_huffman builds. */
int spz_eie_huff_layer_bits(uint64_t *entries, uint64_t *padding,
                            uint64_t *header, const spz_eie *e,
                            const spz_eie_layer *l, spz_error *err);

/*
 * A plain image (CSC, CSR or N:M): the whole model, every weight of a
 * Gemm, MatMul or Conv in its sparse form (spz_sparse), the other tensors
 * dense. sparse[i] is the form of tensor weights[i] of model.
 */
typedef struct spz_plain {
	int kind;                /* SPZ_IMAGE_CSC / CSR / NM */
	spz_model *model;
	size_t n_sparse;
	spz_sparse *sparse;
	const spz_tensor **weights;
} spz_plain;

/* N:M pattern for a plain image: nm_n = 0 takes each weight's pattern
 * from its pruning record, else 2:4. */
typedef struct spz_plain_options {
	int kind;
	int nm_n, nm_m;
} spz_plain_options;

/*
 * Writes m as a plain image to path ("-" = stdout) atomically. Fails
 * (nothing written) when a weight does not satisfy its N:M pattern.
 * *out_values (may be NULL) receives the number of stored values.
 */
int spz_plain_save(const spz_model *m, const spz_plain_options *o,
                   const char *path, uint64_t *out_values, spz_error *err);
/* Reads a plain image from an opened input, checking every section (CRC,
 * lengths, pointers, indices, positions, codes) and the model. */
int spz_plain_read(spz_plain **out, spz_input *in, spz_error *err);
void spz_plain_free(spz_plain *p);
/* Reads a plain image and keeps only its model (the caller frees it). */
int spz_plain_read_model(spz_model **out, spz_input *in, spz_error *err);



/*
 * PNG (8-bit RGB, filter none, zlib deflate; formats/README.md "PNG
 * figures") of width x height pixels, rgb row-major top row first.
 * spz_png_encode returns a malloc'd buffer; spz_png_write writes path
 * atomically ("-" = stdout). SPZ_EINVAL for an empty or over 2^24 px side.
 */
int spz_png_encode(unsigned char **out, size_t *len, const uint8_t *rgb,
                   uint32_t width, uint32_t height, spz_error *err);
int spz_png_write(const char *path, const uint8_t *rgb, uint32_t width,
                  uint32_t height, spz_error *err);

/*
 * Bits of an EIE image file (formats/README.md) that are not payload:
 * the header section, and for a layer its descriptor without the codebook
 * and bias (fields, names, CRC) plus, per PE, the entry count, the two
 * CRCs and the bits that pad the entries to a byte. With spz report's
 * payload bits (entries, padding, pointers, codebook, bias) they sum to
 * the file's size.
 */
uint64_t spz_eie_header_bits(const spz_eie *e);
uint64_t spz_eie_layer_header_bits(const spz_eie *e, const spz_eie_layer *l);


/*
 * Vectors of spz run (formats/README.md, "Run vectors"). JSON: an array of
 * numbers (one vector) or an array of arrays of numbers (a batch); raw:
 * little-endian float32, n per vector back to back. Every vector must hold
 * exactly n values, each finite in float32; the message names the file,
 * the vector and the index. *out (count * n floats) is the caller's to
 * free; *nested says whether the JSON was an array of arrays (raw input
 * counts as nested when it holds more than one vector).
 */
int spz_vectors_load(float **out, size_t *count, int *nested,
                     const char *path, size_t n, int raw, spz_error *err);
/* Writes count vectors of n floats in the same forms: shortest float text,
 * one vector per line in a batch. */
int spz_vectors_write(FILE *f, const float *v, size_t count, size_t n,
                      int nested, int raw, spz_error *err);



/*
 * Data sets (formats/README.md, "Data sets"): IDX files (MNIST, plain or
 * gzip-compressed) and NumPy .npy arrays (plain or gzip-compressed), told
 * apart by their content. Inputs: IDX ubyte (scaled to [0, 1] by / 255)
 * or float32; .npy float32, float64 (each must fit float32) or uint8
 * (scaled like IDX); the first dimension counts samples, the rest is one
 * sample (flattened row-major). Labels: a 1-D array of integers >= 0.
 * Every value is checked (NaN, infinities, negative or huge labels) and
 * every message names the file.
 */
typedef struct spz_data_options {
	const char *dir;   /* find SPLIT-images-idx3-ubyte[.gz] and
	                      SPLIT-labels-idx1-ubyte[.gz] here, or NULL */
	const char *split; /* "t10k" or "train" (with dir) */
	const char *x;     /* the inputs file (without dir) */
	const char *y;     /* the labels file, or NULL (without dir) */
	uint64_t limit;    /* keep the first `limit` samples; 0: all */
} spz_data_options;
#define SPZ_DATA_OPTIONS_INIT {NULL, "t10k", NULL, NULL, 0}

/*
 * Loads a data set as o says (exactly one of dir and x). The counts in
 * the inputs' and the labels' headers must agree even with a limit; only
 * the first `limit` samples are read and checked. SPZ_EINVAL for bad
 * options, SPZ_EIO, SPZ_EFORMAT (bad magic, header, dtype, Fortran order,
 * truncated data, disagreeing counts), SPZ_ERANGE (a NaN or infinite value,
 * a bad label), SPZ_ENOTFOUND (no such files in dir), SPZ_ENOMEM.
 */
int spz_dataset_load(spz_dataset **out, const spz_data_options *o,
                     spz_error *err);


#ifdef __cplusplus
}
#endif

#endif
