/* info_image.h - spz info on a packed image (cmd/info_image.c). */
#ifndef SPZ_INFO_IMAGE_H
#define SPZ_INFO_IMAGE_H

#include "cli.h"

typedef struct info_image_opts {
	int json;
	int dump;            /* print the stored vectors */
	const char *layer;   /* name or index, NULL for all */
	const char *pe;      /* PE number, NULL for all */
} info_image_opts;

/* Describes the image open in `in` (any kind); returns the exit code. */
int info_image(spz_input *in, const info_image_opts *o);

#endif
