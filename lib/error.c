/* error.c - pinned error codes and the detail buffer every call may fill. */
#include "spz.h"

#include <stdarg.h>
#include <stdio.h>

const char *spz_strerror(int code)
{
	switch (code) {
	case SPZ_OK: return "success";
	case SPZ_ENOMEM: return "out of memory";
	case SPZ_EINVAL: return "invalid argument";
	case SPZ_EIO: return "input/output error";
	case SPZ_EFORMAT: return "malformed file";
	case SPZ_ECRC: return "checksum mismatch";
	case SPZ_EVERSION: return "unsupported format version";
	case SPZ_ERANGE: return "value out of range";
	case SPZ_ENOTFOUND: return "not found";
	case SPZ_EEXIST: return "already exists";
	case SPZ_EUNSUPPORTED: return "unsupported";
	default: return "unknown error";
	}
}

int spz_fail(spz_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->text, sizeof err->text, fmt, ap);
		va_end(ap);
	}
	return code;
}
