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

int spz_huff_encode(uint64_t *bits_out, uint8_t *out, const spz_huff *h,
                    const uint8_t *sym, uint64_t n, spz_error *err)
{
	uint64_t at = 0;
	for (uint64_t i = 0; i < n; i++) {
		int s = sym[i], l = s < h->n ? h->len[s] : 0;
		if (!l)
			return spz_fail(err, SPZ_EINVAL, "huffman: symbol %d at %llu "
			                "has no code", s, (unsigned long long)i);
		uint32_t c = h->code[s];
		for (int b = l - 1; b >= 0; b--, at++)
			if ((c >> b) & 1)
				out[at >> 3] |= (uint8_t)(1u << (at & 7));
	}
	*bits_out = at;
	return 0;
}

int spz_huff_decode(uint8_t *sym, uint64_t n, uint64_t *used,
                    const uint8_t *in, uint64_t in_bits, const spz_huff *h,
                    spz_error *err)
{
	/* Canonical decoding by counts (the codes of one length are
	 * consecutive): no table beyond the symbols in code order. */
	uint32_t cnt[SPZ_HUFF_MAX_LEN + 1] = {0};
	uint8_t order[256];
	int k = 0;
	for (int l = 1; l <= SPZ_HUFF_MAX_LEN; l++)
		for (int s = 0; s < h->n; s++)
			if (h->len[s] == l) {
				order[k++] = (uint8_t)s;
				cnt[l]++;
			}
	uint64_t at = 0;
	for (uint64_t i = 0; i < n; i++) {
		int32_t code = 0, first = 0, index = 0;
		int l = 1;
		for (;; l++) {
			if (l > SPZ_HUFF_MAX_LEN || at == in_bits)
				return spz_fail(err, SPZ_EFORMAT, at == in_bits
				                ? "huffman: the stream ends in symbol "
				                  "%llu of %llu"
				                : "huffman: no code matches the bits "
				                  "of symbol %llu of %llu",
				                (unsigned long long)i,
				                (unsigned long long)n);
			code |= (in[at >> 3] >> (at & 7)) & 1;
			at++;
			int32_t c = (int32_t)cnt[l];
			if (code - first < c) {
				sym[i] = order[index + code - first];
				break;
			}
			index += c;
			first = (first + c) << 1;
			code <<= 1;
		}
	}
	*used = at;
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
