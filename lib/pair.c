/*
 * pair.c - two halves of a piece of work on two threads (pair.h).
 */
#include "pair.h"

#include <pthread.h>

void spz_run_pair(void *(*fn)(void *), void *a, void *b, int threaded)
{
	pthread_t th;
	threaded = threaded && !pthread_create(&th, NULL, fn, b);
	fn(a);
	if (threaded)
		pthread_join(th, NULL);
	else
		fn(b);
}
