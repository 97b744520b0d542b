/*
 * huffman.c - Deep Compression's third stage: canonical Huffman codes of
 * the entry codes and of the relative indices of a layer, their sizes for
 * `spz report`, and the bit-level coder behind the Huffman image
 * (`spz pack --huffman`). Deterministic: ties are broken by symbol.
 */
#include "spz.h"

#include <stdlib.h>
#include <string.h>

struct leaf {
	uint64_t count;
	int sym;
};

static int leaf_cmp(const void *a, const void *b)
{
	const struct leaf *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return x->sym - y->sym;
}

/* Optimal lengths for the m used leaves (sorted), two-queue method:
 * merged nodes are made in non-decreasing weight, so the smallest two are
 * always at the fronts of the two queues. Returns the longest length. */
static int lengths(uint8_t *len, const struct leaf *lv, int m)
{
	uint64_t w[511];
	int parent[511], depth[511];
	int nl = 0, ni = m, next = m;
	for (int i = 0; i < m; i++)
		w[i] = lv[i].count;
	for (int made = 0; made < m - 1; made++) {
		int pick[2];
		for (int t = 0; t < 2; t++) {
			/* A tie takes the leaf: shallower trees for equal cost. */
			if (nl < m && (ni == next || w[nl] <= w[ni]))
				pick[t] = nl++;
			else
				pick[t] = ni++;
		}
		w[next] = w[pick[0]] + w[pick[1]];
		parent[pick[0]] = parent[pick[1]] = next;
		next++;
	}
	int root = next - 1, longest = 0;
	depth[root] = 0;
	for (int i = root - 1; i >= 0; i--)
		depth[i] = depth[parent[i]] + 1;
	for (int i = 0; i < m; i++) {
		len[lv[i].sym] = (uint8_t)(m == 1 ? 1 : depth[i]);
		longest = len[lv[i].sym] > longest ? len[lv[i].sym] : longest;
	}
	return longest;
}

int spz_huff_canonical(spz_huff *h, spz_error *err)
{
	uint32_t bl[SPZ_HUFF_MAX_LEN + 1] = {0};
	for (int s = 0; s < h->n; s++) {
		if (h->len[s] > SPZ_HUFF_MAX_LEN)
			return spz_fail(err, SPZ_EFORMAT, "huffman: symbol %d has "
			                "a %d-bit code (at most %d)", s, h->len[s],
			                SPZ_HUFF_MAX_LEN);
		bl[h->len[s]]++;
	}
	/* Kraft: sum of 2^-len must not exceed 1. */
	uint64_t room = 1;
	for (int l = 1; l <= SPZ_HUFF_MAX_LEN; l++) {
		room <<= 1;
		if (bl[l] > room)
			return spz_fail(err, SPZ_EFORMAT, "huffman: the code "
			                "lengths are not a prefix code (too many "
			                "of %d bits)", l);
		room -= bl[l];
	}
	uint32_t next[SPZ_HUFF_MAX_LEN + 2] = {0}, code = 0;
	for (int l = 1; l <= SPZ_HUFF_MAX_LEN; l++) {
		code = (code + bl[l - 1] * (l > 1)) << 1;
		next[l] = code;
	}
	for (int s = 0; s < h->n; s++)
		h->code[s] = h->len[s] ? next[h->len[s]]++ : 0;
	return 0;
}

int spz_huff_build(spz_huff *h, const uint64_t *count, int n,
                   spz_error *err)
{
	if (n < 1 || n > 256)
		return spz_fail(err, SPZ_EINVAL, "huffman: an alphabet has "
		                "1..256 symbols, not %d", n);
	memset(h, 0, sizeof *h);
	h->n = n;
	struct leaf lv[256];
	int m = 0;
	for (int s = 0; s < n; s++) {
		if (!count[s])
			continue;
		if (h->symbols + count[s] < h->symbols)
			return spz_fail(err, SPZ_ERANGE, "huffman: more than 2^64 "
			                "symbols");
		h->symbols += count[s];
		lv[m].count = count[s];
		lv[m++].sym = s;
	}
	if (!m)
		return 0;
	qsort(lv, (size_t)m, sizeof lv[0], leaf_cmp);
	/* Too long (very skewed counts): flatten as bzip2 does until it
	 * fits. Halving keeps the order, so lv stays sorted. */
	while (lengths(h->len, lv, m) > SPZ_HUFF_MAX_LEN)
		for (int i = 0; i < m; i++)
			lv[i].count = lv[i].count / 2 + 1;
	int rc = spz_huff_canonical(h, err);
	if (rc)
		return rc;
	for (int s = 0; s < n; s++)
		h->bits += count[s] * h->len[s];
	return 0;
}

/* The len low bits of c in reverse order: codes go out most significant
 * bit first into an LSB-first stream, so a code reversed can be ORed in
 * whole (and the decoder's table is indexed by the stream bits as they
 * come). */
static uint32_t reverse(uint32_t c, int len)
{
	uint32_t r = 0;
	for (int b = 0; b < len; b++, c >>= 1)
		r = r << 1 | (c & 1);
	return r;
}

static void store_le32(uint8_t *p, uint64_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int spz_huff_encode(uint64_t *bits_out, uint8_t *out, const spz_huff *h,
                    const uint8_t *sym, uint64_t n, spz_error *err)
{
	/* Word at a time: codes (at most 24 bits) gather in a 64-bit
	 * accumulator, flushed 32 bits at a time, so the bit loop runs
	 * once per code length, not once per bit. */
	uint32_t rev[256];
	uint8_t len[256];
	for (int s = 0; s < 256; s++) {
		len[s] = s < h->n ? h->len[s] : 0;
		rev[s] = len[s] ? reverse(h->code[s], len[s]) : 0;
	}
	uint64_t acc = 0, at = 0;
	int fill = 0;
	uint8_t *o = out;
	for (uint64_t i = 0; i < n; i++) {
		int s = sym[i], l = len[s];
		if (!l)
			return spz_fail(err, SPZ_EINVAL, "huffman: symbol %d at %llu "
			                "has no code", s, (unsigned long long)i);
		acc |= (uint64_t)rev[s] << fill;
		fill += l;
		at += (uint64_t)l;
		if (fill >= 32) {
			store_le32(o, acc);
			o += 4;
			acc >>= 32;
			fill -= 32;
		}
	}
	for (; fill > 0; fill -= 8, acc >>= 8)
		*o++ = (uint8_t)acc;
	*bits_out = at;
	return 0;
}

int spz_huff_decoder_init(spz_huff_decoder *d, const spz_huff *h,
                          spz_error *err)
{
	if (h->n < 1 || h->n > 256)
		return spz_fail(err, SPZ_EINVAL, "huffman: an alphabet has "
		                "1..256 symbols, not %d", h->n);
	memset(d, 0, sizeof *d);
	/* Canonical order for codes longer than the table: the codes of one
	 * length are consecutive, so counts and the symbols in (length,
	 * symbol) order decode them. */
	int k = 0;
	for (int l = 1; l <= SPZ_HUFF_MAX_LEN; l++)
		for (int s = 0; s < h->n; s++)
			if (h->len[s] == l) {
				d->order[k++] = (uint8_t)s;
				d->count[l]++;
			}
	d->single = k == 1 && d->count[1] == 1 ? d->order[0] : -1;
	for (int s = 0; s < h->n; s++) {
		int l = h->len[s];
		if (!l || l > SPZ_HUFF_LOOKUP)
			continue;
		/* Every table index whose low l bits are the code as it
		 * arrives (reversed) decodes to s. */
		uint32_t r = reverse(h->code[s], l);
		for (uint32_t i = r; i < (1u << SPZ_HUFF_LOOKUP); i += 1u << l)
			d->fast[i] = (uint16_t)(s | l << 8);
	}
	/* The codes that follow one another within an index: a code of
	 * length l at bit `used` is known when used + l <= LOOKUP, since
	 * fast[] depends on the low l bits only. */
	const uint32_t mask = (1u << SPZ_HUFF_LOOKUP) - 1;
	for (uint32_t i = 0; i <= mask; i++) {
		int c = 0, used = 0;
		while (c < 7) {
			unsigned e = d->fast[(i >> used) & mask];
			int l = (int)(e >> 8);
			if (!l || used + l > SPZ_HUFF_LOOKUP)
				break;
			d->multi[i][c++] = (uint8_t)(e & 0xff);
			used += l;
		}
		d->multi[i][7] = (uint8_t)(c | used << 3);
	}
	return 0;
}

/* Up to 64 stream bits from bit at on (bits past the buffer read as 0). */
static uint64_t peek(const uint8_t *in, uint64_t bytes, uint64_t at)
{
	uint64_t b = at >> 3, v = 0;
	if (b + 8 <= bytes) {
		const uint8_t *p = in + b;
		v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
		    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
		    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
		    (uint64_t)p[7] << 56;
	} else {
		for (uint64_t i = 0; b + i < bytes; i++)
			v |= (uint64_t)in[b + i] << (8 * i);
	}
	return v >> (at & 7);
}

/* The symbol of a code longer than the table (or of no code), bit by
 * bit from v canonically; its length in *len, > SPZ_HUFF_MAX_LEN when no
 * code matches. */
static int slow_symbol(int *len, uint64_t v, const spz_huff_decoder *d)
{
	int32_t code = 0, first = 0, index = 0;
	for (int l = 1; l <= SPZ_HUFF_MAX_LEN; l++) {
		code |= (int32_t)((v >> (l - 1)) & 1);
		int32_t c = (int32_t)d->count[l];
		if (code - first < c) {
			*len = l;
			return d->order[index + code - first];
		}
		index += c;
		first = (first + c) << 1;
		code <<= 1;
	}
	*len = SPZ_HUFF_MAX_LEN + 1;
	return 0;
}

int spz_huff_decoder_run(uint8_t *sym, uint64_t n, uint64_t *used,
                         const uint8_t *in, uint64_t in_bits,
                         const spz_huff_decoder *d, spz_error *err)
{
	uint64_t at = 0, bytes = (in_bits + 7) / 8, i = 0;
	const uint64_t mask = (1u << SPZ_HUFF_LOOKUP) - 1;
	/* One symbol (every entry code 1 of an unquantized what-if, say):
	 * each is a 0 bit, checked a byte at a time. */
	if (d->single >= 0 && n <= in_bits) {
		uint64_t whole = n / 8;
		for (uint64_t b = 0; b < whole; b++)
			if (in[b])
				return spz_fail(err, SPZ_EFORMAT, "huffman: no code "
				                "matches the bits of symbol %llu of "
				                "%llu", (unsigned long long)(8 * b),
				                (unsigned long long)n);
		if (n % 8 && (in[whole] & ((1u << (n % 8)) - 1)))
			return spz_fail(err, SPZ_EFORMAT, "huffman: no code matches "
			                "the bits of symbol %llu of %llu",
			                (unsigned long long)(8 * whole),
			                (unsigned long long)n);
		memset(sym, d->single, (size_t)n);
		*used = n;
		return 0;
	}
	while (i < n) {
		/* One load gives at least 57 bits: decode from them while the
		 * table's bits (several short codes at once) or a longest
		 * code still fit. */
		uint64_t v = peek(in, bytes, at);
		int avail = 64 - (int)(at & 7);
		while (i < n && avail >= SPZ_HUFF_LOOKUP) {
			/* Several short codes per lookup while 8 symbols still
			 * fit (the 8-byte copy writes past the count, into
			 * symbols decoded next) and the codes end in the
			 * stream. */
			const uint8_t *m = d->multi[v & mask];
			int mb = m[7] >> 3;
			if (m[7] && n - i >= 8 && (uint64_t)mb <= in_bits - at) {
				memcpy(sym + i, m, 8);
				i += m[7] & 7u;
				v >>= mb;
				avail -= mb;
				at += (uint64_t)mb;
				continue;
			}
			if (avail < SPZ_HUFF_MAX_LEN)
				break;
			unsigned e = d->fast[v & mask];
			int l = (int)(e >> 8), s = (int)(e & 0xff);
			if (!l) {
				s = slow_symbol(&l, v, d);
				if (l > SPZ_HUFF_MAX_LEN && (uint64_t)l <= in_bits - at)
					return spz_fail(err, SPZ_EFORMAT, "huffman: "
					                "no code matches the bits of "
					                "symbol %llu of %llu",
					                (unsigned long long)i,
					                (unsigned long long)n);
			}
			/* Past the end, the zeros read may have matched. */
			if ((uint64_t)l > in_bits - at)
				return spz_fail(err, SPZ_EFORMAT, "huffman: the "
				                "stream ends in symbol %llu of %llu",
				                (unsigned long long)i,
				                (unsigned long long)n);
			sym[i++] = (uint8_t)s;
			v >>= l;
			avail -= l;
			at += (uint64_t)l;
		}
	}
	*used = at;
	return 0;
}

int spz_huff_decode(uint8_t *sym, uint64_t n, uint64_t *used,
                    const uint8_t *in, uint64_t in_bits, const spz_huff *h,
                    spz_error *err)
{
	spz_huff_decoder d;
	int rc = spz_huff_decoder_init(&d, h, err);
	if (!rc)
		rc = spz_huff_decoder_run(sym, n, used, in, in_bits, &d, err);
	return rc;
}

int spz_huff_check_complete(const spz_huff *h, spz_error *err)
{
	/* Kraft sum in units of 2^-MAX_LEN: a complete code sums to 1. */
	uint64_t sum = 0;
	int used = 0;
	for (int s = 0; s < h->n; s++) {
		if (!h->len[s])
			continue;
		if (h->len[s] > SPZ_HUFF_MAX_LEN)
			return spz_fail(err, SPZ_EFORMAT, "huffman: symbol %d has "
			                "a %d-bit code (at most %d)", s, h->len[s],
			                SPZ_HUFF_MAX_LEN);
		sum += 1ull << (SPZ_HUFF_MAX_LEN - h->len[s]);
		used++;
	}
	uint64_t one = 1ull << SPZ_HUFF_MAX_LEN;
	if (sum > one)
		return spz_fail(err, SPZ_EFORMAT, "huffman: the code lengths "
		                "are over-subscribed (not a prefix code)");
	/* No symbol, or one symbol with the 1-bit code spz_huff_build gives
	 * it: the only incomplete codes allowed. */
	if (sum < one && !(used == 0 || (used == 1 && sum == one / 2)))
		return spz_fail(err, SPZ_EFORMAT, "huffman: the code lengths "
		                "are incomplete (some bit patterns are no code)");
	return 0;
}

int spz_huff_layer_sizes(spz_huff_layer *out, const spz_eie *e,
                         const spz_eie_layer *l, spz_error *err)
{
	uint64_t cc[256] = {0}, ic[256] = {0}, entries = 0;
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		for (uint64_t p = 0; p < pe->n_entries; p++) {
			cc[pe->code[p]]++;
			ic[pe->index[p]]++;
		}
		entries += pe->n_entries;
	}
	memset(out, 0, sizeof *out);
	int nc = 1 << l->code_bits, ni = 1 << e->index_bits;
	int rc = spz_huff_build(&out->codes, cc, nc, err);
	if (!rc)
		rc = spz_huff_build(&out->index, ic, ni, err);
	if (rc)
		return rc;
	out->codes_bits = out->codes.bits;
	out->index_bits = out->index.bits;
	out->table_bits = 8 * (uint64_t)(nc + ni);
	out->fixed_bits = entries * (uint64_t)(l->code_bits + e->index_bits);
	return 0;
}
