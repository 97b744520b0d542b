#!/bin/sh
# test_basics.sh - the program itself: help, version, unknown commands.
. "$(dirname "$0")/lib.sh"

run --version;        expect_rc 0 "--version"; expect_out '^spz [0-9]+\.[0-9]+\.[0-9]+$' "--version prints the version"
run --help;           expect_rc 0 "--help";    expect_out 'convert' "--help lists commands"
run;                  expect_rc 2 "no command is a usage error"
run frobnicate;       expect_rc 2 "unknown command"; expect_err "'frobnicate' is not an spz command" "unknown command is named"; expect_one_line "unknown command: one line"
for c in gen info convert; do
	run "$c" --help;  expect_rc 0 "$c --help"; expect_out "^usage: spz $c" "$c --help shows usage"
	run help "$c";    expect_rc 0 "help $c"
done
run help nope;        expect_rc 2 "help of an unknown command"
done_testing
