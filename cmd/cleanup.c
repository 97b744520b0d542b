/*
 * cleanup.c - removing named temporary outputs when a signal stops spz.
 *
 * The library writes outputs to unnamed files where it can, which nothing
 * can leave behind; but it needs a name for an instant to replace an
 * existing file, and throughout where the file system has no O_TMPFILE.
 * It reports those names through spz_temp_note (a weak reference in
 * formats/io.c, so that the library keeps no state of its own); this file
 * keeps them and removes them when SIGINT, SIGTERM or SIGHUP arrives,
 * then lets the signal end the process as it would have.
 *
 * The list is only changed with those signals blocked, so the handler
 * never sees it half-updated; the handler itself calls only unlink,
 * sigaction and raise, which are async-signal-safe. spz is single-
 * threaded, so sigprocmask is the whole of the blocking needed.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP (sizeof stop_signals / sizeof stop_signals[0])

/* The live names; a handful at most (run writes three outputs). */
static char **live;
static size_t n_live, cap_live;

static void on_stop(int sig)
{
	for (size_t i = 0; i < n_live; i++)
		unlink(live[i]);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	/* Pending until the handler returns and unblocks it; then it ends
	 * the process, and the parent sees the signal as the cause. */
	raise(sig);
}

void cli_cleanup_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_STOP; i++)
		sigaddset(&sa.sa_mask, stop_signals[i]);
	for (size_t i = 0; i < N_STOP; i++) {
		struct sigaction old;
		/* An ignored signal stays ignored (nohup, a background job
		 * of a shell without job control). */
		if (sigaction(stop_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(stop_signals[i], &sa, NULL);
	}
}

static void block(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < N_STOP; i++)
		sigaddset(&set, stop_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

void spz_temp_note(const char *tmp, int live_now)
{
	sigset_t old;
	block(&old);
	if (live_now) {
		char *copy = strdup(tmp);
		if (copy && n_live == cap_live) {
			size_t cap = cap_live * 2 + 4;
			char **grown = realloc(live, cap * sizeof *live);
			if (grown) {
				live = grown;
				cap_live = cap;
			}
		}
		if (copy && n_live < cap_live)
			live[n_live++] = copy;
		else
			/* Out of memory: this name is not removed on a signal,
			 * as before this list existed; the write goes on. */
			free(copy);
	} else {
		for (size_t i = 0; i < n_live; i++)
			if (!strcmp(live[i], tmp)) {
				free(live[i]);
				live[i] = live[--n_live];
				break;
			}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}
