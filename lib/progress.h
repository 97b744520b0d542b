/*
 * progress.h - the library's side of spz_progress_fn: a function reports
 * the fraction of its work done, and a part of a larger piece of work
 * reports into its share of the caller's range, so that nested work (the
 * k-means inside a tensor's quantization) moves one line forward.
 * Internal to lib/.
 */
#ifndef SPZ_PROGRESS_H
#define SPZ_PROGRESS_H

#include "spz.h"

typedef struct spz_prog {
	spz_progress_fn fn; /* NULL: nobody listens */
	void *ctx;
	double lo, hi;      /* this work's share of the caller's [0, 1] */
	double last;        /* the fraction reported last, never undone */
} spz_prog;

/* The whole of [0, 1] for a hook given in an option struct. */
static inline spz_prog spz_prog_root(spz_progress_fn fn, void *ctx)
{
	spz_prog p = {fn, ctx, 0.0, 1.0, 0.0};
	return p;
}

/* Reports fraction f (0..1) of this work; a fraction below the last one
 * is not reported (estimates may waver, the line must not). */
static inline void spz_prog_at(spz_prog *p, double f)
{
	if (!p->fn || !(f >= p->last))
		return;
	p->last = f > 1 ? 1 : f;
	p->fn(p->ctx, p->lo + (p->hi - p->lo) * p->last, 1.0);
}

/* The part [a, b] (fractions of this work) as work of its own. */
static inline spz_prog spz_prog_part(const spz_prog *p, double a, double b)
{
	spz_prog q = {p->fn, p->ctx, p->lo + (p->hi - p->lo) * a,
	              p->lo + (p->hi - p->lo) * b, 0.0};
	return q;
}

#endif
