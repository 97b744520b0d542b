/* plain_image.c - CSC, CSR and N:M images (not yet). */
#include "image_io.h"

int spz_plain_read_model(spz_model **out, spz_input *in, spz_error *err)
{
	(void)out;
	return spz_fail(err, SPZ_EUNSUPPORTED, "'%s': plain images are not "
	                "supported yet", in->label);
}
