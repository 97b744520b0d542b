/*
 * text.c - what spz accepts as a name: UTF-8 that a terminal shows as
 * text. Names reach terminals (spz info) and JSON writers, so a control
 * character or a broken sequence is refused where a file is read. Also
 * what a tensor glob (--include, --rule, a prune config) may look like.
 */
#include "spz.h"

int64_t spz_text_check(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c < 0x20 || c == 0x7f)
			return (int64_t)i;
		if (c < 0x80) {
			i++;
			continue;
		}
		/* Lead byte: length and the smallest code point it may encode
		 * (overlong forms are invalid). */
		size_t len;
		uint32_t cp, min;
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			return (int64_t)i;
		if (n - i < len)
			return (int64_t)i;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (int64_t)i;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* Surrogates and past U+10FFFF are not characters; C1 controls
		 * (U+0080..U+009F) act on terminals like C0 ones. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp <= 0x9f)
			return (int64_t)i;
		i += len;
	}
	return -1;
}

/* fnmatch(3) would take an unclosed '[' literally, which hides typos. */
int spz_glob_ok(const char *glob)
{
	if (!*glob)
		return 0;
	for (const char *p = glob; *p; p++) {
		if (*p == '\\') {
			/* An escaped '[' opens no bracket expression. */
			if (!*++p)
				return 0;
		} else if (*p == '[') {
			/* A ']' right after '[' or '[!' is a member, not the end. */
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return 0;
			p = q;
		}
	}
	return 1;
}
