#!/bin/sh
# run.sh - runs every tests/cli/test_*.sh against $SPZ and prints the plain
# "N passed, N failed" line; exits non-zero if any check failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${SPZ:?set SPZ to the spz binary}"
export SPZ
pass=0 fail=0
for t in "$here"/test_*.sh; do
	out=$(sh "$t" 2>&1)
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok ')
	printf '%s\n' "$out" | grep -A3 '^not ok ' || true
	# A script that died before its last check counts as a failure.
	if ! printf '%s\n' "$out" | grep -q '^# done'; then
		echo "not ok - $(basename "$t") did not finish:"
		printf '%s\n' "$out" | tail -5
		f=$((f + 1))
	fi
	echo "cli: $(basename "$t"): $p passed, $f failed"
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
