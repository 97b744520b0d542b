/*
 * unpack.c - spz unpack: an image (EIE, CSC, CSR or N:M) back into the
 * model it was packed from.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

/* Reads any image from an opened input into a model. */
static int image_to_model(spz_model **out, spz_input *in, spz_error *err)
{
	if (spz_input_kind(in) != SPZ_FILE_IMAGE)
		return spz_fail(err, SPZ_EFORMAT, "'%s' is not an spz image "
		                "(make one with spz pack)", in->label);
	int kind = spz_image_kind(in);
	if (kind == SPZ_IMAGE_CSC || kind == SPZ_IMAGE_CSR ||
	    kind == SPZ_IMAGE_NM)
		return spz_plain_read_model(out, in, err);
	spz_eie *e;
	int rc = spz_eie_read(&e, in, err);
	if (rc)
		return rc;
	spz_error sub = {0};
	rc = spz_eie_unpack(out, e, &sub);
	if (rc)
		spz_fail(err, rc, "'%s': %s", in->label, sub.text);
	spz_eie_free(e);
	return rc;
}

int cmd_unpack(int argc, char **argv)
{
	const char *out = NULL, *to = NULL;
	if (cli_out_to_opts(&out, &to, "unpack", argc, argv))
		return EXIT_USAGE;
	if (argc - optind > 1)
		return cli_usage("unpack", "expected at most one input image");
	const char *in_path = optind < argc ? argv[optind] : "-";
	if (!out)
		return cli_usage("unpack", "no output given (-o MODEL)");
	if (cli_no_input("unpack", in_path, "an image"))
		return EXIT_USAGE;
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, "unpack", to, out);
	if (rc)
		return rc;
	spz_input in;
	spz_error err = {0};
	spz_model *m = NULL;
	rc = spz_input_open(&in, in_path, &err);
	if (!rc) {
		rc = image_to_model(&m, &in, &err);
		spz_input_close(&in);
	}
	/* A plain image holds the model with its history, which comes back
	 * as it was; an EIE image only holds the layers, so the rebuilt
	 * model says where it came from. */
	if (!rc && (spz_image_kind(&in) == SPZ_IMAGE_EIE ||
	            spz_image_kind(&in) == SPZ_IMAGE_EIE_HUFF)) {
		spz_param p = {"format", "eie"};
		if (spz_model_add_step(m, "unpack", &p, 1))
			rc = spz_fail(&err, SPZ_ENOMEM, "out of memory");
	}
	if (rc) {
		spz_model_free(m);
		return cli_fail(&err);
	}
	rc = cli_save_model_summary("unpack", m, out, kind);
	spz_model_free(m);
	return rc;
}
