/* help.h - the help table generated from the man pages (build/help.c). */
#ifndef SPZ_HELP_H
#define SPZ_HELP_H

struct spz_help {
	const char *name;    /* "info", or "spz" for the top-level page */
	const char *summary; /* the NAME line's description */
	const char *text;    /* usage and options, ready to print */
};

/* The page of a command, or NULL. */
const struct spz_help *spz_help_find(const char *cmd);

#endif
