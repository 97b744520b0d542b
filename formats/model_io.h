/*
 * model_io.h - internals shared by the JSON and binary model formats.
 */
#ifndef SPZ_MODEL_IO_H
#define SPZ_MODEL_IO_H

#include "spz_format.h"

/* How a .spzm payload holds its tensor (formats/README.md): the plain
 * elements, or a bitmask of the non-zero ones followed by them. */
enum { SPZ_ENC_DENSE = 0, SPZ_ENC_BITMASK = 1 };

/* Where a tensor's payload sits in a binary model, and its encoding
 * (written as the manifest key "encoding" when not dense). */
typedef struct spz_section {
	uint64_t offset, length;
	uint32_t crc;
	int encoding;
} spz_section;

/* Writes the model as JSON; with sections, as the binary manifest
 * (payloads replaced by offset/length/crc32). */
void spz_write_manifest(FILE *f, const spz_model *m,
                        const spz_section *sections);
/* The same into a new malloc'd buffer (*text, *len); SPZ_ENOMEM fails. */
int spz_manifest_text(char **text, size_t *len, const spz_model *m,
                      const spz_section *sections, spz_error *err);

/* Parses JSON text into a model. With sections != NULL it is a binary
 * manifest: *sections receives one entry per tensor (caller frees) and the
 * payloads stay unread. dir resolves external_data locations. */
int spz_parse_manifest(spz_model **out, spz_section **sections,
                       const char *text, size_t len, const char *label,
                       const char *dir, spz_error *err);

/* The format version m needs: 2 when it holds what version 1 cannot
 * (a data type other than float32, an ONNX record), else 1. */
int spz_model_version(const spz_model *m);
/* spz_parse_manifest on a tree that spz_json_read or spz_json_parse
 * gave (j stays the caller's). Tensors are created without storage when
 * sections != NULL: the binary reader allocates each once its payload is
 * known to be there. */
struct cJSON;
int spz_manifest_from_json(spz_model **out, spz_section **sections,
                           const struct cJSON *j, const char *label,
                           const char *dir, spz_error *err);

/* Reads a JSON model from in (strict, capped at SPZ_JSON_MODEL_MAX): the
 * big number arrays are parsed from the text straight into the tensors,
 * without a cJSON node per number. */
int spz_model_read_json(spz_model **out, spz_input *in, spz_error *err);

/* Progress of a model being written: fn (may be NULL) is told done of
 * total, the elements of the tensors' data and codes. */
typedef struct spz_wprog {
	spz_progress_fn fn;
	void *ctx;
	double done, total;
} spz_wprog;

/* Bytes a binary writer (.spzm, ONNX, external data) writes between two
 * calls of wp->fn: a 2 GB model shows life ~250 times, and the calls and
 * the extra write() of each piece cost nothing measurable. */
#define SPZ_WPROG_BYTES ((size_t)8 << 20)

/* Tells wp's hook (if any) that done of its total elements are written. */
static inline void spz_wprog_at(const spz_wprog *wp, double done)
{
	if (wp && wp->fn)
		wp->fn(wp->ctx, done, wp->total);
}

/* The progress of writing m, told to opts' hook (opts may be NULL): the
 * total is every tensor's elements, none done yet. */
static inline spz_wprog spz_wprog_for(const spz_model *m,
                                      const spz_save_opts *opts)
{
	spz_wprog wp = {opts ? opts->progress : NULL,
	                opts ? opts->progress_ctx : NULL, 0, 0};
	for (size_t i = 0; i < m->n_tensors; i++)
		wp.total += (double)spz_tensor_elements(&m->tensors[i]);
	return wp;
}

/* spz_onnx_write telling wp (may be NULL) as it writes, both files. */
int spz_onnx_write_wp(FILE *f, const spz_model *m, FILE *ext,
                      const char *ext_location, spz_wprog *wp,
                      spz_error *err);

/* spz_write_manifest without sections, telling wp (may be NULL) as the
 * number arrays are written: formatting them is most of the time. */
void spz_write_json(FILE *f, const spz_model *m, spz_wprog *wp);

/* Writes n bytes at file offset at of fd, whole (pwrite, EINTR
 * retried); SPZ_EIO with strerror's text. */
int spz_pwrite_all(int fd, const void *buf, size_t n, off_t at,
                   spz_error *err);

/* Converts n little-endian 32-bit words in place to host order. */
void spz_le32_to_host(void *words, size_t n);

#endif
