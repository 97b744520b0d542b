# lib.sh - helpers for the CLI tests. Each test_*.sh sources this file,
# runs checks, and ends with `done_testing`.
#
#   run ARGS...           runs "$SPZ ARGS", keeps $rc, $out (stdout), $err
#   run_in FILE ARGS...   same with stdin from FILE
#   expect_rc N NAME      the last run exited N
#   expect_err PATTERN NAME   stderr matches the grep -E pattern
#   expect_out PATTERN NAME   stdout matches
#   expect_one_line NAME  stderr is exactly one line starting "spz"
#   expect_no_file PATH NAME  no file (nor leftover temporary) at PATH
#   check NAME CMD...     a shell command that must succeed
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/spz-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
SAMPLES=$(cd "$(dirname "$0")/../../samples" && pwd)
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }

run() {
	"$SPZ" "$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(cat "$T/.out"); err=$(cat "$T/.err")
}
run_in() {
	f=$1; shift
	"$SPZ" "$@" <"$f" >"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(cat "$T/.out"); err=$(cat "$T/.err")
}
expect_rc() {
	if [ "$rc" -eq "$1" ]; then ok "$2"; else notok "$2" "exit $rc, wanted $1" "stderr: $err"; fi
}
expect_err() {
	if printf '%s\n' "$err" | grep -Eq -- "$1"; then ok "$2"; else notok "$2" "stderr: $err" "wanted: $1"; fi
}
expect_out() {
	if printf '%s\n' "$out" | grep -Eq -- "$1"; then ok "$2"; else notok "$2" "stdout: $(printf '%s' "$out" | head -c 600)" "wanted: $1"; fi
}
expect_one_line() {
	lines=$(printf '%s\n' "$err" | grep -c .)
	if [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -q '^spz'; then ok "$1"; else notok "$1" "stderr: $err"; fi
}
expect_no_file() {
	if [ -e "$1" ] || ls "$1".tmp* >/dev/null 2>&1; then notok "$2" "$1 exists"; else ok "$2"; fi
}
check() {
	name=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else notok "$name" "failed: $*"; fi
}
done_testing() { echo "# done $n"; }
