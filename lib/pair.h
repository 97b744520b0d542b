/*
 * pair.h - one piece of work run as two halves on two threads (private to
 * libspz: lib/ and formats/).
 */
#ifndef SPZ_PAIR_H
#define SPZ_PAIR_H

/* fn(a) on this thread and, meanwhile, fn(b) on a thread of its own when
 * threaded is set and one starts; else fn(b) after fn(a), here. Both are
 * done on return; what they found is in a and b. */
void spz_run_pair(void *(*fn)(void *), void *a, void *b, int threaded);

#endif
