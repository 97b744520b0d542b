#!/bin/sh
# test_hardening.sh - issue 10, defects 1, 2, 5 and 6: external data that
# a symbolic link would lead out of the model's folder, external data
# naming a FIFO, outputs interrupted by a signal or a kill, and a pipe
# closed by its reader.
. "$(dirname "$0")/lib.sh"

# A JSON model whose tensor w (3 floats) is external data at LOCATION.
ext_model() {
	printf '{"format": "spz-model", "version": 1, "name": "t", "inputs": ["x"], "outputs": ["y"], "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}], "initializers": [{"name": "w", "data_type": 1, "dims": [3], "external_data": {"location": "%s", "offset": 0, "length": 12}}], "history": []}\n' "$2" >"$1"
}
# convert MODEL -o out.spzm (killed after 10 s, so that a hang fails
# instead of stopping the tests): exit 1, one line matching PATTERN.
refused() {
	rm -f "$T/out.spzm"
	timeout 10 "$SPZ" convert "$2" -o "$T/out.spzm" >"$T/.out" 2>"$T/.err"
	rc=$?; out=$(cat "$T/.out"); err=$(cat "$T/.err")
	expect_rc 1 "$1: exit 1"
	expect_err "^spz: '$2': tensor 'w' external_data: $3" "$1: message"
	expect_one_line "$1: one line"
	expect_no_file "$T/out.spzm" "$1: no output file"
}

# ---- 1. external data and symbolic links --------------------------------
D=$T/model
mkdir -p "$D/sub" "$T/elsewhere"
# float32 1, 2, 3 (little-endian), inside the folder and outside it.
printf '\000\000\200\077\000\000\000\100\000\000\100\100' >"$D/w.bin"
cp "$D/w.bin" "$T/elsewhere/secret.bin"
outside="location '[^']*' must be a relative path inside the model's folder$"

ln -s "$T/elsewhere" "$D/etc"
ext_model "$D/dir.json" etc/secret.bin
refused "link to a directory outside" "$D/dir.json" "location 'etc/secret.bin' must be a relative path inside the model's folder$"
ln -s /etc "$D/sysetc"
ext_model "$D/passwd.json" sysetc/passwd
refused "link to /etc (the issue's case)" "$D/passwd.json" "$outside"
ln -s "$T/elsewhere/secret.bin" "$D/leak.bin"
ext_model "$D/file.json" leak.bin
refused "link to a file outside" "$D/file.json" "location 'leak.bin' must be a relative path inside the model's folder$"
ln -s ../elsewhere/secret.bin "$D/rel.bin"
ext_model "$D/rel.json" rel.bin
refused "relative link climbing out" "$D/rel.json" "$outside"
ln -s ../.. "$D/sub/up2"
ext_model "$D/deep.json" sub/up2/elsewhere/secret.bin
refused "link in a subfolder climbing out" "$D/deep.json" "$outside"
# Absolute even though it points back inside: refused, as documented.
ln -s "$D/w.bin" "$D/abs.bin"
ext_model "$D/abs.json" abs.bin
refused "absolute link back inside" "$D/abs.json" "$outside"
ln -s loop "$D/loop"
ext_model "$D/loop.json" loop
refused "a link loop" "$D/loop.json" "cannot open '$D/loop': Too many levels of symbolic links$"

# Links that stay inside the folder are followed.
ln -s ../w.bin "$D/sub/w.bin"
ln -s sub "$D/alias"
ext_model "$D/inside.json" alias/w.bin
run convert "$D/inside.json" -o "$T/inside.spzm"
expect_rc 0 "links that stay inside the folder are followed"
run info "$T/inside.spzm"
expect_out '^  w +3 +float32 +[a-z]+ +3 +1.0000 ' "links inside: the values arrive"

# ---- 2. external data that is not a regular file -----------------------
mkfifo "$D/fifo"
ext_model "$D/fifo.json" fifo
refused "a FIFO" "$D/fifo.json" "cannot open '$D/fifo': a FIFO, not a regular file$"
ln -s fifo "$D/tofifo"
ext_model "$D/tofifo.json" tofifo
refused "a link to a FIFO" "$D/tofifo.json" "cannot open '$D/tofifo': a FIFO, not a regular file$"
ext_model "$D/subdir.json" sub
refused "a directory" "$D/subdir.json" "cannot open '$D/sub': Is a directory$"

# ---- 5. outputs stopped by a signal or a kill ---------------------------
# Only the expected files in a folder (no OUT.tmp*, nothing else).
only() {
	have=$(cd "$1" && ls -A | tr '\n' ' ')
	if [ "$have" = "$2" ]; then ok "$3"; else notok "$3" "files: '$have'" "wanted: '$2'"; fi
}
# A write cut off in the middle by a signal the process does not handle:
# the file-size limit (SIGXFSZ) stops it at a known point, every time.
O=$T/cut
mkdir "$O"
# (Inside a subshell that reports the status, which keeps the shell's own
# "File size limit exceeded" out of the test output.)
(ulimit -f 1024; "$SPZ" gen layer --rows 1024 --cols 1024 --density 1 -o "$O/big.spzm"; echo $? >"$T/.rc") 2>/dev/null
rc=$(cat "$T/.rc")
check "SIGXFSZ stops the write midway" test "$rc" -gt 128
only "$O" "" "a write killed midway leaves no file"
"$SPZ" gen layer --rows 8 --cols 8 -o "$O/big.spzm"
cp "$O/big.spzm" "$O/old.spzm"
(ulimit -f 1024; "$SPZ" gen layer --rows 1024 --cols 1024 --density 1 -o "$O/big.spzm"; echo $? >"$T/.rc") 2>/dev/null
only "$O" "big.spzm old.spzm " "a write killed midway over an old file leaves no temporary"
check "... and the old file whole" cmp "$O/big.spzm" "$O/old.spzm"

# A 64 MB model to copy: convert spends most of its time writing it.
SRC=$T/src.spzm
"$SPZ" gen layer --rows 4096 --cols 4096 --density 1 -o "$SRC"
WRAP=
# Starts spz convert of that model to $1/big.spzm in the background and
# waits until the output is being written (a temporary beside it, or an
# unnamed file open): sets $pid, or returns 1 if it finished first.
start_writing() {
	rm -f "$1"/*
	$WRAP "$SPZ" convert "$SRC" -o "$1/big.spzm" 2>/dev/null &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		set -- "$1" "$1"/big.spzm.tmp*
		[ -e "$2" ] && return 0
		[ -n "${SPZ_TEST_NO_TMPFILE:-}" ] && continue
		ls -l "/proc/$pid/fd" 2>/dev/null | grep -q ' (deleted)$' && return 0
	done
	wait "$pid"
	return 1
}
# Kills a writer with signal $2 in the middle of its write (3 tries: on a
# busy machine the write may finish before the signal is sent, or before
# it arrives, which exits 0 with the whole output in place) and checks
# that only the files it began with are left.
kill_midway() {
	caught=0
	for try in 1 2 3; do
		start_writing "$1" || continue
		kill "-$2" "$pid"
		wait "$pid" 2>/dev/null
		rc=$?
		[ "$rc" = 0 ] && continue
		caught=1
		break
	done
	if [ "$caught" = 0 ]; then
		ok "$3 # skip: the write always finished before the signal"
		return
	fi
	check "$3: the signal ended spz" test "$rc" -gt 128
	only "$1" "" "$3: nothing left"
}
kill_midway "$O" KILL "SIGKILL in the middle of a write"
# The named temporary of file systems without O_TMPFILE is removed by
# spz itself on SIGINT, SIGTERM and SIGHUP (SIGINT reset to the default,
# which a background job of a non-interactive shell does not have).
SPZ_TEST_NO_TMPFILE=1
export SPZ_TEST_NO_TMPFILE
kill_midway "$O" TERM "SIGTERM, named temporary"
kill_midway "$O" HUP "SIGHUP, named temporary"
if env --default-signal=INT true 2>/dev/null; then
	WRAP="env --default-signal=INT"
	kill_midway "$O" INT "SIGINT, named temporary"
	WRAP=
fi
unset SPZ_TEST_NO_TMPFILE
# The same fallback works as the normal path does.
run gen layer --rows 8 --cols 8 -o "$O/a.spzm"
SPZ_TEST_NO_TMPFILE=1 "$SPZ" gen layer --rows 8 --cols 8 -o "$O/b.spzm"
check "a named temporary gives the same file" cmp "$O/a.spzm" "$O/b.spzm"
SPZ_TEST_NO_TMPFILE=1 "$SPZ" gen layer --rows 8 --cols 4 -o "$O/a.spzm"
only "$O" "a.spzm b.spzm " "a named temporary over an old file: nothing else left"
run info "$O/a.spzm"
expect_out 'fc.weight +8x4 ' "a named temporary replaced the old file"
# A new file gets the umask's mode, as any new file.
rm -f "$O/m.spzm"
(umask 027; exec "$SPZ" gen layer --rows 8 --cols 8 -o "$O/m.spzm")
check "a new output gets the mode the umask gives" sh -c "ls -l '$O/m.spzm' | grep -q '^-rw-r-----'"

# ---- 6. a pipe closed by its reader --------------------------------------
{ "$SPZ" gen layer --rows 2048 --cols 2048 --density 1 -o - 2>"$T/.err"; echo $? >"$T/.rc"; } | head -c 10 >/dev/null
rc=$(cat "$T/.rc"); err=$(cat "$T/.err")
expect_rc 1 "pipe closed early: exit 1"
expect_err "^spz: cannot write '<stdout>': output closed early$" "pipe closed early: message"
expect_one_line "pipe closed early: said once"
{ "$SPZ" gen layer --rows 256 --cols 256 --density 1 --to json -o - 2>"$T/.err"; echo $? >"$T/.rc"; } | head -c 10 >/dev/null
rc=$(cat "$T/.rc"); err=$(cat "$T/.err")
expect_rc 1 "JSON to a pipe closed early: exit 1"
expect_err "^spz: cannot write '<stdout>': output closed early$" "JSON to a pipe closed early: message"
expect_one_line "JSON to a pipe closed early: said once"
done_testing
