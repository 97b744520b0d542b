/*
 * json_strict.c - strict JSON for every reader (see json_strict.h).
 *
 * Reading runs a small scanner over the bytes as they arrive: it knows
 * whether it is inside a string and how deep in brackets, which is enough
 * to refuse control characters, "\u0000" (cJSON would cut the string
 * there) and anything after the top-level value at the byte where it
 * appears, and to cut each long run of blanks short, so neither memory
 * nor the parser pays for them. cJSON then parses the folded text; a walk
 * over the tree refuses duplicate keys and names that are not text.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "json_strict.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Blanks kept of each run: spz's own indentation stays as it is, so the
 * text is not moved at all, and a longer run is cut here. */
#define FOLD_KEEP 64

/* Where newlines of a long run of blanks were dropped: messages count
 * lines of the text as it was. */
typedef struct fold {
	size_t at;        /* offset in the folded text they preceded */
	uint64_t dropped; /* newlines dropped there */
} fold;

typedef struct scanner {
	const char *label;
	spz_error *err;
	int in_str, esc;
	int uhex;          /* inside \u: 1 + hex digits seen; 0 outside */
	int uzero;         /* the digits seen so far are all '0' */
	long depth;
	int started;       /* the first token has been seen */
	int done;          /* the top-level object or array is closed */
	int stop;          /* no use reading on: the parser will refuse */
	uint64_t ws_len;   /* bytes in the current run of blanks */
	uint64_t line;     /* line of the text as read, from 1 */
	fold *folds;
	size_t n_folds, cap_folds;
} scanner;

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int add_fold(scanner *s, size_t at)
{
	if (s->n_folds && s->folds[s->n_folds - 1].at == at) {
		s->folds[s->n_folds - 1].dropped++;
		return 0;
	}
	if (s->n_folds == s->cap_folds) {
		size_t nc = s->cap_folds ? 2 * s->cap_folds : 16;
		fold *nf = realloc(s->folds, nc * sizeof *nf);
		if (!nf)
			return spz_fail(s->err, SPZ_ENOMEM, "out of memory");
		s->folds = nf;
		s->cap_folds = nc;
	}
	s->folds[s->n_folds++] = (fold){at, 1};
	return 0;
}

/* Where the fast paths stop: bit 1 inside a string (the quote, the
 * backslash, controls), bit 2 outside (blanks, controls, the quote,
 * brackets). Every other byte is copied as it is: the parser judges it. */
static const unsigned char stop_table[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	[' '] = 2, ['"'] = 3, ['['] = 2, ['\\'] = 1, [']'] = 2, ['{'] = 2,
	['}'] = 2,
};

/* The end of the run of bytes from k that the outside-a-string fast path
 * copies as they are. Eight bytes at a time while none of them is below
 * 0x23 (blanks, controls, the quote) or above 0x5a (brackets, braces;
 * letters stop it too, harmlessly): number text never is. */
static size_t plain_run(const unsigned char *in, size_t k, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	while (k + 8 <= n) {
		uint64_t x;
		memcpy(&x, in + k, 8);
		if ((((x - 0x23 * ones) & ~x) | ((x + 0x25 * ones) | x)) & high)
			break;
		k += 8;
	}
	while (k < n && !(stop_table[in[k]] & 2))
		k++;
	return k;
}

/*
 * Scans n bytes. With out, the bytes are written (long runs of blanks
 * cut) at out + *out_n
 * (out may be in itself: nothing is written ahead of what was read);
 * without, the text is only checked.
 */
static int scan_bytes(scanner *s, const unsigned char *in, size_t n,
                      char *out, size_t *out_n)
{
	size_t o = out ? *out_n : 0;
	for (size_t i = 0; i < n; i++) {
		/* Fast paths: most bytes of a model are digits and
		 * punctuation outside strings (a single blank between them
		 * is copied too), or plain text inside them. */
		if (s->in_str && !s->esc && !s->uhex) {
			size_t k = i;
			while (k < n && !(stop_table[in[k]] & 1))
				k++;
			if (out && out + o != (const char *)in + i)
				memmove(out + o, in + i, k - i);
			o += k - i;
			i = k;
		} else if (!s->in_str && !s->done && s->started &&
		           !(stop_table[in[i]] & 2)) {
			s->ws_len = 0;
			size_t k = i;
			for (;;) {
				k = plain_run(in, k, n);
				/* One space followed by a token: not a run. */
				if (k + 1 < n && in[k] == ' ' &&
				    !(stop_table[in[k + 1]] & 2))
					k++;
				else
					break;
			}
			if (out && out + o != (const char *)in + i)
				memmove(out + o, in + i, k - i);
			o += k - i;
			i = k;
		}
		if (i == n)
			break;
		unsigned char c = in[i];
		if (s->in_str) {
			if (c < 0x20)
				return spz_fail(s->err, SPZ_EFORMAT, "'%s': not "
				                "JSON (control character 0x%02x in "
				                "a string at line %llu)", s->label,
				                c, (unsigned long long)s->line);
			if (s->uhex) {
				int hex = (c >= '0' && c <= '9') ||
				          (c >= 'a' && c <= 'f') ||
				          (c >= 'A' && c <= 'F');
				s->uzero &= c == '0';
				if (!hex)
					s->uhex = 0; /* the parser refuses it */
				else if (++s->uhex == 5) {
					s->uhex = 0;
					if (s->uzero)
						return spz_fail(
							s->err, SPZ_EFORMAT,
							"'%s': \\u0000 in a string "
							"at line %llu (a NUL "
							"character is not text)",
							s->label,
							(unsigned long long)s->line);
				}
			} else if (s->esc) {
				s->esc = 0;
				if (c == 'u')
					s->uhex = 1, s->uzero = 1;
			} else if (c == '\\') {
				s->esc = 1;
			} else if (c == '"') {
				s->in_str = 0;
			}
			if (out)
				out[o++] = (char)c;
			continue;
		}
		if (is_blank(c)) {
			if (++s->ws_len > SPZ_JSON_BLANK_RUN_MAX)
				return spz_fail(s->err, SPZ_EFORMAT, "'%s': more "
				                "than 1 MiB of blanks in a row at "
				                "line %llu", s->label,
				                (unsigned long long)s->line);
			s->line += c == '\n';
			if (!out || s->done)
				continue;
			if (s->ws_len <= FOLD_KEEP)
				out[o++] = (char)c;
			else if (c == '\n' && add_fold(s, o))
				return SPZ_ENOMEM;
			continue;
		}
		s->ws_len = 0;
		if (c < 0x20)
			return spz_fail(s->err, SPZ_EFORMAT, "'%s': not JSON "
			                "(control character 0x%02x at line %llu)",
			                s->label, c, (unsigned long long)s->line);
		if (s->done)
			return spz_fail(s->err, SPZ_EFORMAT, "'%s': not JSON "
			                "(text after the end of the JSON value at "
			                "line %llu)", s->label,
			                (unsigned long long)s->line);
		if (!s->started) {
			s->started = 1;
			/* Every JSON spz reads is an object or an array. */
			s->stop = c != '{' && c != '[';
		}
		if (c == '"') {
			s->in_str = 1;
		} else if (c == '{' || c == '[') {
			s->depth++;
		} else if (c == '}' || c == ']') {
			if (--s->depth == 0)
				s->done = 1;
			else if (s->depth < 0)
				s->stop = 1;
		}
		if (out)
			out[o++] = (char)c;
	}
	if (out)
		*out_n = o;
	return 0;
}

/* Line (from 1) of offset at of the folded text, in the text as read. */
static uint64_t line_of(const scanner *s, const char *text, size_t len,
                        size_t at)
{
	/* cJSON puts an error at the end of the text on its last byte, which
	 * may stand for a run of blanks cut short: the input's last line. */
	if (s && at + 1 >= len)
		return s->line;
	uint64_t line = 1;
	for (size_t i = 0; i < at; i++)
		line += text[i] == '\n';
	for (size_t k = 0; s && k < s->n_folds && s->folds[k].at <= at; k++)
		line += s->folds[k].dropped;
	return line;
}

/* ------------------------------------------------------------------ */
/* Number arrays left as text                                          */

/*
 * A JSON model is mostly its tensors' "data" (and "codes") arrays: tens of
 * millions of numbers, which as cJSON nodes cost over 60 bytes each and a
 * malloc apiece. Before cJSON sees the text, each such array that is made
 * of JSON numbers only is replaced, in a copy of the text's structure, by
 * a marker object {"\u0001": K}; the numbers stay where they are in the
 * text and K indexes a span the model reader parses straight into the
 * tensor. A key holding U+0001 cannot come from the file (keys with
 * control characters are refused), and a file that writes "\u0001"
 * anywhere is parsed the ordinary way, so a marker cannot be forged.
 * Only arrays at initializers[i].data and initializers[i].codes are
 * replaced, and only when their text is valid JSON numbers: anything else
 * reaches cJSON as it is, with the same messages as before.
 */

typedef struct marker {
	size_t red_off, red_len;   /* in the reduced text */
	size_t orig_off, orig_len; /* the array, brackets included */
} marker;

typedef struct reduced {
	char *text;
	size_t len, cap;
	marker *marks;
	spz_json_span *spans;
	size_t n, cap_n;
} reduced;

/* Frees what r holds and empties it. */
static void red_drop(reduced *r)
{
	free(r->text);
	free(r->marks);
	free(r->spans);
	memset(r, 0, sizeof *r);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether the 8 bytes at p are all ASCII digits: high nibble 3, and
 * adding 6 leaves it 3. A carry out of a byte above can only make a digit
 * look like none (the caller then goes on byte by byte), never the
 * reverse. */
static int eight_digits(const char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	const uint64_t hi = 0xF0F0F0F0F0F0F0F0u, three = 0x3030303030303030u;
	return !(((x & hi) ^ three) |
	         (((x + 0x0606060606060606u) & hi) ^ three));
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank((unsigned char)*p))
		p++;
	return p;
}

/* One JSON number (RFC 8259 grammar) at p; NULL when there is none. */
static const char *lex_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (++p < end && is_digit(*p))
			;
	else
		return NULL;
	if (p < end && *p == '.') {
		if (++p >= end || !is_digit(*p))
			return NULL;
		while (end - p >= 8 && eight_digits(p))
			p += 8;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !is_digit(*p))
			return NULL;
		while (++p < end && is_digit(*p))
			;
	}
	return p;
}

/* The array of numbers that starts with '[' at p: its end after ']' and
 * its count, or NULL when it is empty or holds anything else. */
static const char *lex_number_array(const char *p, const char *end,
                                    int64_t *count)
{
	int64_t n = 0;
	p = skip_blanks(p + 1, end);
	for (;;) {
		p = lex_number(p, end);
		if (!p)
			return NULL;
		n++;
		p = skip_blanks(p, end);
		if (p < end && *p == ']')
			break;
		if (p >= end || *p != ',')
			return NULL;
		p = skip_blanks(p + 1, end);
	}
	*count = n;
	return p + 1;
}

static int red_put(reduced *r, const char *b, size_t n)
{
	if (r->cap - r->len < n + 1) {
		size_t nc = r->cap ? r->cap : 4096;
		while (nc - r->len < n + 1)
			nc *= 2;
		char *t = realloc(r->text, nc);
		if (!t)
			return -1;
		r->text = t;
		r->cap = nc;
	}
	memcpy(r->text + r->len, b, n);
	r->len += n;
	r->text[r->len] = 0;
	return 0;
}

/* Which keys matter on the way to a tensor's arrays. */
enum { KEY_OTHER, KEY_INITS, KEY_NUMBERS };

static int key_kind(const char *s, size_t n, int depth)
{
	if (depth == 1 && n == 12 && !memcmp(s, "initializers", 12))
		return KEY_INITS;
	if (depth == 3 && ((n == 4 && !memcmp(s, "data", 4)) ||
	                   (n == 5 && !memcmp(s, "codes", 5))))
		return KEY_NUMBERS;
	return KEY_OTHER;
}

/*
 * Builds the reduced text of text (len bytes). Returns 0 with r filled,
 * 1 when markers cannot be used (the text writes \u0001; r is empty), or
 * SPZ_ENOMEM. Malformed text is copied as it is for cJSON to refuse.
 */
static int reduce_text(reduced *r, const char *text, size_t len,
                       spz_error *err)
{
	enum { TRACK = 4 };
	char type[TRACK];
	int key[TRACK];
	long depth = 0;
	int want_key = 0;
	const char *p = text, *end = text + len, *copied = text;
	memset(r, 0, sizeof *r);
	while (p < end) {
		char c = *p;
		if (c == '"') {
			const char *q = p + 1;
			while (q < end && *q != '"') {
				if (*q == '\\') {
					if (end - q >= 6 && q[1] == 'u' &&
					    !memcmp(q + 2, "0001", 4))
						goto unusable;
					q++;
				}
				q++;
			}
			if (want_key && depth >= 1 && depth < TRACK &&
			    type[depth] == '{')
				key[depth] = key_kind(p + 1, (size_t)(q - p - 1),
				                      (int)depth);
			want_key = 0;
			p = q < end ? q + 1 : end;
			continue;
		}
		if (c == '[' && depth == 3 && type[1] == '{' &&
		    key[1] == KEY_INITS && type[2] == '[' && type[3] == '{' &&
		    key[3] == KEY_NUMBERS) {
			int64_t count;
			const char *e = lex_number_array(p, end, &count);
			/* Short arrays cost cJSON little: not worth a span. */
			if (e && e - p >= 64) {
				if (r->n == r->cap_n) {
					size_t nc = r->cap_n ? 2 * r->cap_n : 16;
					marker *nm = realloc(r->marks,
					                     nc * sizeof *nm);
					if (nm)
						r->marks = nm;
					spz_json_span *ns = nm ? realloc(
						r->spans, nc * sizeof *ns) : NULL;
					if (!ns)
						goto nomem;
					r->spans = ns;
					r->cap_n = nc;
				}
				char mk[48];
				int ml = snprintf(mk, sizeof mk, "{\"\\u0001\": %zu}",
				                  r->n);
				if (red_put(r, copied, (size_t)(p - copied)))
					goto nomem;
				r->marks[r->n] = (marker){r->len, (size_t)ml,
				                          (size_t)(p - text),
				                          (size_t)(e - p)};
				r->spans[r->n] = (spz_json_span){
					(size_t)(p - text) + 1,
					(size_t)(e - p) - 2, count};
				r->n++;
				if (red_put(r, mk, (size_t)ml))
					goto nomem;
				p = copied = e;
				continue;
			}
		}
		if (c == '{' || c == '[') {
			depth++;
			if (depth < TRACK) {
				type[depth] = c;
				key[depth] = KEY_OTHER;
			}
			want_key = c == '{';
		} else if (c == '}' || c == ']') {
			depth--;
			want_key = 0;
		} else if (c == ',') {
			want_key = depth >= 1 && depth < TRACK &&
			           type[depth] == '{';
		}
		p++;
	}
	if (red_put(r, copied, (size_t)(end - copied)))
		goto nomem;
	return 0;
nomem:
	red_drop(r);
	return spz_fail(err, SPZ_ENOMEM, "out of memory");
unusable:
	red_drop(r);
	return 1;
}

/* The offset in the original text of offset at of the reduced one. */
static size_t orig_offset(const reduced *r, size_t at)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) { /* the first marker starting after at */
		size_t mid = (lo + hi) / 2;
		if (r->marks[mid].red_off <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return at;
	const marker *m = &r->marks[lo - 1];
	if (at < m->red_off + m->red_len)
		return m->orig_off;
	return at - (m->red_off + m->red_len) + m->orig_off + m->orig_len;
}

/* ------------------------------------------------------------------ */
/* The tree                                                            */

/* The path to a value, for messages: "initializers[2].dims". */
#define PATH_DEPTH 1100 /* above cJSON's nesting limit of 1000 */
typedef struct walker {
	const char *label;
	spz_error *err;
	int markers; /* marker objects stand for number arrays */
	int depth;
	struct {
		const char *key; /* NULL: an array index */
		size_t idx;
	} seg[PATH_DEPTH];
} walker;

static const char *path_text(const walker *w, char *b, size_t n)
{
	size_t at = 0;
	b[0] = 0;
	for (int d = 0; d < w->depth && at + 1 < n; d++) {
		int k = w->seg[d].key
		      ? snprintf(b + at, n - at, "%s%s", d ? "." : "",
		                 w->seg[d].key)
		      : snprintf(b + at, n - at, "[%zu]", w->seg[d].idx);
		if (k < 0)
			break;
		at += (size_t)k;
	}
	if (at >= n && n > 4)
		strcpy(b + n - 4, "...");
	return w->depth ? b : "the top-level object";
}

/*
 * Where s stops being UTF-8 (-1: never). Control characters are UTF-8 and
 * pass here (a string value may hold "\n"); names go through
 * spz_text_check, which refuses them too, so this steps over what that
 * refuses for being a control rather than for being broken.
 */
static int64_t utf8_bad(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		int64_t bad = spz_text_check(s + i, n - i);
		if (bad < 0)
			return -1;
		size_t at = i + (size_t)bad;
		if (p[at] < 0x20 || p[at] == 0x7f)
			i = at + 1;
		else if (p[at] == 0xc2 && at + 1 < n && p[at + 1] >= 0x80 &&
		         p[at + 1] <= 0x9f)
			i = at + 2; /* a C1 control, U+0080..U+009F */
		else
			return (int64_t)at;
	}
	return -1;
}

/* Keys are names: text a terminal shows as text. String values must be
 * UTF-8 (readers check the ones that are names). */
static int text_ok(walker *w, const char *s, int is_key)
{
	size_t n = strlen(s);
	int64_t bad = is_key ? spz_text_check(s, n) : utf8_bad(s, n);
	if (bad < 0)
		return 0;
	char b[160];
	const char *where = path_text(w, b, sizeof b);
	/* Show only the good part: the rest may be a terminal escape. */
	if (is_key)
		return spz_fail(w->err, SPZ_EFORMAT, "'%s': key \"%.*s...\" in "
		                "%s: invalid UTF-8 or a control character at "
		                "byte %lld", w->label, (int)(bad > 40 ? 40 : bad),
		                s, where, (long long)bad);
	return spz_fail(w->err, SPZ_EFORMAT, "'%s': %s: invalid UTF-8 at byte "
	                "%lld of the string", w->label, where, (long long)bad);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int duplicate(walker *w, const char *key)
{
	char b[160];
	return spz_fail(w->err, SPZ_EFORMAT, "'%s': duplicate key \"%s\" in "
	                "%s", w->label, key, path_text(w, b, sizeof b));
}

/* Refuses a key given twice in object j (whose keys passed text_ok). */
static int check_dups(walker *w, const cJSON *j)
{
	size_t n = 0;
	for (const cJSON *e = j->child; e; e = e->next)
		n++;
	if (n <= 16) {
		for (const cJSON *a = j->child; a; a = a->next)
			for (const cJSON *b = a->next; b; b = b->next)
				if (!strcmp(a->string, b->string))
					return duplicate(w, a->string);
		return 0;
	}
	/* Big objects: sort, so that a million keys take n log n. */
	const char **k = malloc(n * sizeof *k);
	if (!k)
		return spz_fail(w->err, SPZ_ENOMEM, "out of memory");
	size_t i = 0;
	for (const cJSON *e = j->child; e; e = e->next)
		k[i++] = e->string;
	qsort(k, n, sizeof *k, cmp_key);
	int rc = 0;
	for (i = 1; !rc && i < n; i++)
		if (!strcmp(k[i - 1], k[i]))
			rc = duplicate(w, k[i]);
	free(k);
	return rc;
}

static int walk(walker *w, const cJSON *j)
{
	if (cJSON_IsString(j))
		return text_ok(w, j->valuestring, 0);
	int obj = cJSON_IsObject(j);
	if (!obj && !cJSON_IsArray(j))
		return 0;
	if (w->markers && spz_json_is_marker(j))
		return 0;
	int rc = 0;
	if (obj) {
		for (const cJSON *e = j->child; !rc && e; e = e->next)
			rc = text_ok(w, e->string, 1);
		if (!rc)
			rc = check_dups(w, j);
	}
	if (w->depth >= PATH_DEPTH)
		return rc; /* cJSON refuses such nesting before this */
	size_t idx = 0;
	for (const cJSON *e = j->child; !rc && e; e = e->next, idx++) {
		/* Most values of a model are numbers: skip them fast. */
		if (!cJSON_IsString(e) && !e->child)
			continue;
		w->seg[w->depth].key = obj ? e->string : NULL;
		w->seg[w->depth].idx = idx;
		w->depth++;
		rc = walk(w, e);
		w->depth--;
	}
	return rc;
}

/* Line of offset at of what cJSON parsed: text, or the reduced text of
 * it when rd is not NULL. */
static uint64_t error_line(const scanner *s, const reduced *rd,
                           const char *text, size_t len, size_t at)
{
	return line_of(s, text, len, rd ? orig_offset(rd, at) : at);
}

/* Parses len bytes of checked (and maybe folded) text; s maps lines. With
 * rd, cJSON parses rd's reduced text instead, and messages count lines
 * of text. */
static int parse_text(cJSON **out, const char *otext, size_t olen,
                      const scanner *s, const reduced *rd,
                      const char *label, spz_error *err)
{
	const char *text = rd ? rd->text : otext;
	size_t len = rd ? rd->len : olen;
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!j) {
		if (!end || end > text + len)
			end = text + len;
		uint64_t line = error_line(s, rd, otext, olen,
		                           (size_t)(end - text));
		/* Python's json writes NaN and Infinity, which JSON has not. */
		const char *at = end;
		while (at < text + len && (*at == ' ' || *at == '-' ||
		                           *at == '\n'))
			at++;
		size_t left = (size_t)(text + len - at);
		if ((left >= 3 && !strncmp(at, "NaN", 3)) ||
		    (left >= 8 && !strncmp(at, "Infinity", 8)))
			return spz_fail(err, SPZ_EFORMAT, "'%s': not JSON: %.*s "
			                "at line %llu (a NaN or infinite value)",
			                label, at[0] == 'N' ? 3 : 8, at,
			                (unsigned long long)line);
		return spz_fail(err, SPZ_EFORMAT, "'%s': not JSON (syntax error "
		                "at line %llu)", label, (unsigned long long)line);
	}
	/* cJSON stops at the end of the first value: refuse what follows
	 * (the scanner did for objects and arrays; this is for the rest). */
	while (end < text + len && is_blank((unsigned char)*end))
		end++;
	if (end != text + len) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_EFORMAT, "'%s': not JSON (text after "
		                "the end of the JSON value at line %llu)", label,
		                (unsigned long long)error_line(
					s, rd, otext, olen, (size_t)(end - text)));
	}
	walker *w = malloc(sizeof *w);
	if (!w) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	w->label = label;
	w->err = err;
	w->markers = rd != NULL;
	w->depth = 0;
	int rc = walk(w, j);
	free(w);
	if (rc) {
		cJSON_Delete(j);
		return rc;
	}
	*out = j;
	return 0;
}

int spz_json_parse(cJSON **out, const char *text, size_t len,
                   const char *label, spz_error *err)
{
	scanner s = {.label = label, .err = err, .line = 1};
	int rc = scan_bytes(&s, (const unsigned char *)text, len, NULL, NULL);
	return rc ? rc : parse_text(out, text, len, NULL, NULL, label, err);
}

#define READ_PIECE ((size_t)1 << 17)

/* Reads and scans the text of in into *text (NUL-terminated, *len
 * bytes, the caller's); s keeps what maps its lines. */
static int read_text(char **text, size_t *len, scanner *s, spz_input *in,
                     uint64_t cap, const char *what, spz_error *err)
{
	int64_t left = spz_input_left(in);
	if (left >= 0 && (uint64_t)left > cap)
		return spz_input_too_big(in->label, cap, what, err);
	/* A file's size is known and within the cap: one allocation (its
	 * pages are touched only as bytes are read). A pipe: the buffer
	 * doubles as bytes arrive, so memory follows what was read. */
	size_t bcap = left >= 0 ? (size_t)left + 2 : (size_t)1 << 16, n = 0;
	if (bcap < sizeof in->head + 2)
		bcap = sizeof in->head + 2;
	char *b = malloc(bcap);
	if (!b)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
#ifdef MADV_HUGEPAGE
	/* A big model's text: huge pages make its page faults (a third of
	 * the read's time with 4 KiB pages) 512 times fewer. A hint. */
	long page = sysconf(_SC_PAGESIZE);
	if (page > 0 && bcap >= ((size_t)8 << 20)) {
		uintptr_t a = ((uintptr_t)b + (uintptr_t)page - 1) &
		              ~((uintptr_t)page - 1);
		uintptr_t e = ((uintptr_t)b + bcap) & ~((uintptr_t)page - 1);
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
	}
#endif
	/* The bytes already sniffed first; none can be more than a piece. */
	size_t head = in->n_head - in->head_pos;
	memcpy(b, in->head + in->head_pos, head);
	in->head_pos = in->n_head;
	uint64_t raw = head;
	int rc = raw > cap ? spz_input_too_big(in->label, cap, what, err)
	       : scan_bytes(s, (const unsigned char *)b, head, b, &n);
	while (!rc && !s->stop) {
		if (bcap - n < 2) {
			char *nb = bcap > SIZE_MAX / 2 ? NULL
			         : realloc(b, 2 * bcap);
			if (!nb) {
				rc = spz_fail(err, SPZ_ENOMEM, "'%s': out of "
				              "memory", in->label);
				break;
			}
			b = nb;
			bcap *= 2;
		}
		/* One byte past the cap tells that there is more. Pieces
		 * of a file are read and scanned in turn, so a bad byte
		 * early in a big file stops the read there. */
		size_t want = bcap - n - 1;
		if (want > READ_PIECE)
			want = READ_PIECE;
		if (cap + 1 - raw < want)
			want = (size_t)(cap + 1 - raw);
		ssize_t r = read(in->fd, b + n, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
			              in->label, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		raw += (uint64_t)r;
		if (raw > cap) {
			rc = spz_input_too_big(in->label, cap, what, err);
			break;
		}
		rc = scan_bytes(s, (const unsigned char *)b + n, (size_t)r, b,
		                &n);
	}
	in->consumed += raw;
	if (rc) {
		free(b);
		return rc;
	}
	b[n] = 0;
	*text = b;
	*len = n;
	return 0;
}

int spz_json_read(cJSON **out, spz_input *in, uint64_t cap, const char *what,
                  spz_error *err)
{
	scanner s = {.label = in->label, .err = err, .line = 1};
	char *b;
	size_t n;
	int rc = read_text(&b, &n, &s, in, cap, what, err);
	if (!rc) {
		rc = parse_text(out, b, n, &s, NULL, in->label, err);
		free(b);
	}
	free(s.folds);
	return rc;
}

int spz_json_read_model(spz_json_doc *doc, spz_input *in, uint64_t cap,
                        const char *what, spz_error *err)
{
	scanner s = {.label = in->label, .err = err, .line = 1};
	char *b;
	size_t n;
	memset(doc, 0, sizeof *doc);
	int rc = read_text(&b, &n, &s, in, cap, what, err);
	if (rc) {
		free(s.folds);
		return rc;
	}
	reduced rd;
	rc = reduce_text(&rd, b, n, err);
	if (rc < 0) {
		free(s.folds);
		free(b);
		return rc;
	}
	rc = parse_text(&doc->root, b, n, &s, rc ? NULL : &rd, in->label, err);
	free(s.folds);
	free(rd.text);
	free(rd.marks);
	if (rc) {
		free(rd.spans);
		free(b);
		return rc;
	}
	doc->text = b;
	doc->spans = rd.spans;
	doc->n_spans = rd.n;
	doc->in = in;
	return 0;
}

void spz_json_doc_free(spz_json_doc *doc)
{
	cJSON_Delete(doc->root);
	free(doc->text);
	free(doc->spans);
	memset(doc, 0, sizeof *doc);
}

int spz_json_is_marker(const cJSON *v)
{
	return cJSON_IsObject(v) && v->child && !v->child->next &&
	       v->child->string && v->child->string[0] == 1 &&
	       !v->child->string[1] && cJSON_IsNumber(v->child);
}

const spz_json_span *spz_json_span_of(const spz_json_doc *doc,
                                      const cJSON *v)
{
	if (!doc || !doc->spans || !spz_json_is_marker(v))
		return NULL;
	double k = v->child->valuedouble;
	if (k < 0 || k >= (double)doc->n_spans)
		return NULL;
	return &doc->spans[(size_t)k];
}

static const double exact_pow10[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double spz_json_number(const char **pp, const char *end)
{
	const char *p = *pp, *start = p;
	int neg = *p == '-', nd = 0, e10 = 0, slow = 0;
	uint64_t m = 0;
	p += neg;
	for (; is_digit(*p); p++) {
		if (nd < 19) {
			m = m * 10 + (uint64_t)(*p - '0');
			nd += m != 0;
		} else {
			e10++;
			slow = 1;
		}
	}
	if (*p == '.') {
		p++;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* Eight fraction digits at once while m has room for them
		 * (nd may count leading zeros: it only errs on the safe
		 * side). */
		while (nd <= 11 && end - p >= 8 && eight_digits(p)) {
			uint64_t x;
			memcpy(&x, p, 8);
			x -= 0x3030303030303030u;
			x = x * 10 + (x >> 8); /* pairs */
			x = ((x & 0x000000FF000000FFu) * (100 + (1000000ull << 32)) +
			     ((x >> 16) & 0x000000FF000000FFu) *
			     (1 + (10000ull << 32))) >> 32;
			m = m * 100000000u + x;
			nd += m != 0 ? 8 : 0;
			e10 -= 8;
			p += 8;
		}
#endif
		for (; is_digit(*p); p++) {
			if (nd < 19) {
				m = m * 10 + (uint64_t)(*p - '0');
				nd += m != 0;
				e10--;
			} else {
				slow = 1;
			}
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		int eneg = *p == '-';
		if (*p == '+' || *p == '-')
			p++;
		int x = 0;
		for (; is_digit(*p); p++)
			if (x < 100000)
				x = x * 10 + (*p - '0');
		e10 += eneg ? -x : x;
	}
	*pp = p;
	/* Both m and 10^|e| exact doubles: one correctly rounded operation
	 * gives what strtod gives (Clinger's fast path). */
	if (!slow && m <= (uint64_t)1 << 53) {
		if (!m)
			return neg ? -0.0 : 0.0;
		double v = (double)m;
		if (e10 >= 0 && e10 <= 22)
			v *= exact_pow10[e10];
		else if (e10 < 0 && e10 >= -22)
			v /= exact_pow10[-e10];
		else
			return strtod(start, NULL);
		return neg ? -v : v;
	}
	return strtod(start, NULL);
}


int spz_json_load(cJSON **out, const char *path, uint64_t cap,
                  const char *what, spz_error *err)
{
	spz_input in;
	int rc = spz_input_open(&in, path, err);
	if (rc)
		return rc;
	rc = spz_json_read(out, &in, cap, what, err);
	spz_input_close(&in);
	return rc;
}

int spz_json_only_keys(const cJSON *obj, const char *const *keys, size_t n,
                       const char *label, const char *where,
                       spz_error *err)
{
	for (const cJSON *e = obj->child; e; e = e->next) {
		size_t k = 0;
		while (k < n && strcmp(keys[k], e->string))
			k++;
		if (k == n)
			return spz_fail(err, SPZ_EFORMAT, "'%s': %s%sunknown key "
			                "\"%s\"", label, where ? where : "",
			                where ? ": " : "", e->string);
	}
	return 0;
}

int spz_json_check_name(const char *s, const char *label, const char *where,
                        const char *key, spz_error *err)
{
	int64_t bad = spz_text_check(s, strlen(s));
	if (bad < 0)
		return 0;
	return spz_fail(err, SPZ_EFORMAT, "'%s': %s%s\"%s\" is not a name "
	                "(invalid UTF-8 or a control character at byte %lld)",
	                label, where ? where : "", where ? ": " : "", key,
	                (long long)bad);
}
