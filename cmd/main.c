/*
 * main.c - the spz program: global options and the table of subcommands.
 * Each subcommand lives in its own file and gets argv from its name on.
 */
#define _POSIX_C_SOURCE 200809L /* SIGPIPE */
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "help.h"

int cmd_convert(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sensitivity(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_finetune(int argc, char **argv);

static const struct {
	const char *name;
	spz_cmd_fn fn;
} commands[] = {
	{"gen", cmd_gen},
	{"train", cmd_train},
	{"info", cmd_info},
	{"convert", cmd_convert},
	{"prune", cmd_prune},
	{"finetune", cmd_finetune},
	{"quantize", cmd_quantize},
	{"pack", cmd_pack},
	{"unpack", cmd_unpack},
	{"report", cmd_report},
	{"run", cmd_run},
	{"eval", cmd_eval},
	{"sensitivity", cmd_sensitivity},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int usage(FILE *f)
{
	fprintf(f, "usage: spz [--version] [--help] COMMAND [ARGS]\n\n"
	           "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct spz_help *h = spz_help_find(commands[i].name);
		fprintf(f, "  %-12s ", commands[i].name);
		cli_print_wrapped(f, h ? h->summary : "", 15, 15);
	}
	fprintf(f, "\nSee 'spz help COMMAND' or 'man spz-COMMAND' for one "
	           "command.\nExit status: 0 ok, 1 input or data error, 2 usage "
	           "error,\n3 a requested check failed.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static spz_cmd_fn find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].fn;
	return NULL;
}

static int dispatch(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		return usage(stdout);
	if (!strcmp(cmd, "--version")) {
		printf("spz %s\n", SPZ_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3)
			return usage(stdout);
		if (!find(argv[2])) {
			fprintf(stderr, "spz: no such command '%s'\n", argv[2]);
			return EXIT_USAGE;
		}
		return cli_help(argv[2]);
	}
	spz_cmd_fn fn = find(cmd);
	if (!fn) {
		fprintf(stderr, "spz: '%s' is not an spz command; see 'spz "
		                "--help'\n", cmd);
		return EXIT_USAGE;
	}
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return cli_help(cmd);
		if (!strcmp(argv[i], "--version")) {
			printf("spz %s\n", SPZ_VERSION);
			return EXIT_OK;
		}
	}
	cli_verbose_begin(cmd);
	int rc = fn(argc - 1, argv + 1);
	cli_verbose_end(rc);
	return rc;
}

int main(int argc, char **argv)
{
	/* A reader that goes away (| head, a failing next stage) must not
	 * kill spz between opening a temporary output and removing it: the
	 * write fails with EPIPE instead and the usual error path cleans up. */
	signal(SIGPIPE, SIG_IGN);
	cli_cleanup_install();
	int rc = dispatch(argc, argv);
	/* A command that failed has said why already: one line only. */
	int e = fflush(stdout) != 0 ? errno : 0;
	if ((e || ferror(stdout)) && rc == EXIT_OK)
		return cli_error("cannot write '<stdout>': %s",
		                 spz_write_error(stdout, e));
	return rc;
}
