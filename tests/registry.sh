#!/bin/sh
# registry.sh - the header that registers test suites or benchmarks: one
# declaration per definition line "TYPE NAME(void)" found at column 0 of
# FILES, then "#define MACRO X(name) X(name)...", in file order. Adding a
# suite or a benchmark then needs no edit anywhere else.
# Usage: sh tests/registry.sh MACRO 'TYPE-REGEX' 'NAME-REGEX' FILES...
macro=$1 type=$2 name=$3
shift 3
grep -h "^$type$name(void)\$" "$@" /dev/null | sed 's/$/;/'
printf '#define %s' "$macro"
grep -h "^$type$name(void)\$" "$@" /dev/null |
	sed "s/^$type//; s/(void)\$//" |
	while read -r fn; do printf ' X(%s)' "$fn"; done
echo
