/* fuzz_onnx.c - the ONNX reader (spz_onnx_read, protobuf wire format)
 * called directly, so that every input reaches it whatever its first
 * bytes look like; then the writers: a model the reader took must write
 * back as ONNX, JSON and .spzm and read again, and the EIE packer must
 * take it or refuse it with a message (never crash). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "model_common.h"

/* ONNX out, then through the reader again. */
static void onnx_round_trip(const spz_model *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		fuzz_die("open_memstream failed", NULL);
	spz_error err = {0};
	int rc = spz_onnx_write(f, m, NULL, NULL, &err);
	if (fclose(f))
		fuzz_die("writing to memory failed", NULL);
	if (rc) {
		fuzz_check_failure(rc, &err);
	} else {
		spz_input in;
		spz_model *again = NULL;
		rc = spz_input_open(&in, fuzz_file(1, buf, len), &err);
		if (!rc) {
			rc = spz_onnx_read(&again, &in, &err);
			spz_input_close(&in);
		}
		if (!rc && (rc = spz_model_validate_graph(again, &err)))
			fuzz_die("an ONNX model spz wrote fails validation",
			         &err);
		if (rc && rc != SPZ_ENOMEM)
			fuzz_die("an ONNX model spz wrote does not read back",
			         &err);
		spz_model_free(again);
	}
	free(buf);
}

/* Packing walks the graph the reader built: it may refuse, not crash.
 * Only small weights, so that one input stays fast. */
static void try_pack(const spz_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (spz_tensor_elements(&m->tensors[i]) > FUZZ_MAX_ELEMENTS)
			return;
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = 4;
	for (o.fc_only = 0; o.fc_only < 2; o.fc_only++) {
		spz_eie *e = NULL;
		spz_error err = {0};
		int rc = spz_report_pack(&e, m, &o, 4, &err);
		if (rc)
			fuzz_check_failure(rc, &err);
		spz_eie_free(e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spz_input in;
	spz_model *m = NULL;
	spz_error err = {0};
	int rc = spz_input_open(&in, fuzz_file(0, data, size), &err);
	if (!rc) {
		rc = spz_onnx_read(&m, &in, &err);
		spz_input_close(&in);
	}
	/* What spz_model_read adds to every reader. */
	if (!rc && (rc = spz_model_validate_graph(m, &err))) {
		spz_model_free(m);
		m = NULL;
	}
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	onnx_round_trip(m);
	fuzz_round_trip(m, SPZ_FILE_JSON);
	fuzz_round_trip(m, SPZ_FILE_SPZM);
	try_pack(m);
	spz_model_free(m);
	return 0;
}
