#!/bin/sh
# test_bad_input.sh - every kind of bad input and output of issue 2: a
# one-line "spz: ..." naming the file and what is wrong, exit 1, and no
# output file left behind.
. "$(dirname "$0")/lib.sh"

# Little-endian u32 as raw bytes.
le32() {
	# shellcheck disable=SC2059
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
		$(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
# CRC32 (zlib's) of a file, in decimal: gzip's trailer carries it.
crc32() { gzip -c <"$1" | tail -c 8 | od -An -tu4 -N4 | tr -d ' '; }
u32at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
# Overwrites bytes of FILE at OFFSET with the printf-escaped BYTES.
patch() {
	# shellcheck disable=SC2059
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# A .spzm from a manifest file and a data-area file.
mkspzm() {
	L=$(wc -c <"$1")
	{
		printf 'SPZM\r\n\032\n'; le32 1; le32 0; le32 "$L"; le32 0
		le32 "$(crc32 "$1")"; le32 0; cat "$1"
		head -c $(((32 + L + 63) / 64 * 64 - 32 - L)) /dev/zero; cat "$2"
	} >"$3"
}

# Runs convert FILE -o out.spzm: exit 1, one line matching PATTERN, no out.
bad() {
	rm -f "$T/out.spzm"
	run convert "$2" -o "$T/out.spzm"
	expect_rc 1 "$1: exit 1"
	expect_err "^spz: .*$3" "$1: message"
	expect_one_line "$1: one line"
	expect_no_file "$T/out.spzm" "$1: no output file"
}
# A JSON model "t" with one MatMul reading tensor w, whose initializer body
# is $2, written to $1.
json_with() {
	printf '{"format": "spz-model", "version": 1, "name": "t", "inputs": ["x"], "outputs": ["y"], "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}], "initializers": [{"name": "w", "data_type": 1, %s}], "history": []}\n' "$2" >"$1"
}

# ---- empty, not JSON, wrong shape, version ------------------------------
: >"$T/empty.json"
bad "empty file" "$T/empty.json" "'$T/empty.json': empty file"
run_in "$T/empty.json" info -
expect_rc 1 "empty stdin: exit 1"; expect_err "^spz: '<stdin>': empty file$" "empty stdin is named"
echo "hello world" >"$T/text.txt"
bad "not JSON, not binary" "$T/text.txt" "'$T/text.txt': not an spz model \(neither JSON, .spzm nor ONNX\)"
printf '{"format": "spz-model",\n "version": 1,\n oops}\n' >"$T/syntax.json"
bad "JSON syntax error" "$T/syntax.json" "'$T/syntax.json': not JSON \(syntax error at line 3\)"
printf '{"format": "spz-model", "version": 1} trailing\n' >"$T/trail.json"
bad "text after the JSON" "$T/trail.json" "'$T/trail.json': not JSON \(text after the end of the JSON value at line 1\)"
echo '[1, 2, 3]' >"$T/array.json"
bad "a JSON array" "$T/array.json" "'$T/array.json': not an spz model \(no \"format\": \"spz-model\"\)"
echo '{"format": "spz-model", "version": 1, "name": "t", "nodes": 3, "initializers": []}' >"$T/shape.json"
bad "wrong shape" "$T/shape.json" "'$T/shape.json': a model needs \"name\" \(string\), \"nodes\" and \"initializers\" \(arrays\)"
echo '{"format": "spz-model", "version": 1, "name": "t", "inputs": [], "outputs": [], "nodes": [{"op": 1}], "initializers": []}' >"$T/node.json"
bad "node of the wrong shape" "$T/node.json" "'$T/node.json': node 0: \"op\" must be a string"
echo '{"format": "spz-model", "version": 7}' >"$T/version.json"
bad "unknown JSON version" "$T/version.json" "'$T/version.json': format version 7 is not supported \(this spz reads versions 1 and 2\)"

# ---- tensors ------------------------------------------------------------
json_with "$T/negdim.json" '"dims": [2, -3], "data": []'
bad "negative dim" "$T/negdim.json" "'$T/negdim.json': tensor 'w': dim 1 is -3"
json_with "$T/ovfdim.json" '"dims": [4294967296, 4294967296], "data": []'
bad "dims overflowing int64" "$T/ovfdim.json" "'$T/ovfdim.json': tensor 'w': dims are negative or their product overflows"
json_with "$T/ovfbytes.json" '"dims": [2147483648, 2147483648], "data": []'
bad "element count fits, byte count overflows" "$T/ovfbytes.json" "'$T/ovfbytes.json': tensor 'w': its byte count overflows \(4611686018427387904 elements\)"
json_with "$T/short.json" '"dims": [2, 3], "data": [1, 2, 3, 4, 5]'
bad "data shorter than dims" "$T/short.json" "'$T/short.json': tensor 'w': \"data\" has 5 values but the dims give 6"
json_with "$T/long.json" '"dims": [2, 2], "data": [1, 2, 3, 4, 5]'
bad "data longer than dims" "$T/long.json" "'$T/long.json': tensor 'w': \"data\" has 5 values but the dims give 4"
json_with "$T/both.json" '"dims": [2], "bits": 1, "codebook": [0, 1], "codes": [1, 0], "data": [5, 6]'
bad "data and codes" "$T/both.json" "'$T/both.json': tensor 'w' has more than one of \"data\", \"external_data\" and \"codebook\"/\"codes\""
json_with "$T/big.json" '"dims": [3], "data": [1, 2e39, 3]'
bad "value outside float32" "$T/big.json" "'$T/big.json': tensor 'w': data\[1\] is outside the float32 range"
json_with "$T/nanlit.json" '"dims": [3], "data": [1, NaN, 3]'
bad "NaN literal" "$T/nanlit.json" "'$T/nanlit.json': not JSON: NaN at line 1"
json_with "$T/dup.json" '"dims": [1], "data": [1]}, {"name": "w", "data_type": 1, "dims": [1], "data": [2]'
bad "duplicate tensor names" "$T/dup.json" "'$T/dup.json': duplicate tensor name 'w'"
json_with "$T/missing.json" '"dims": [1], "data": [1]'
sed 's/"inputs": \["x", "w"\]/"inputs": ["x", "v"]/' "$T/missing.json" >"$T/missing2.json"
bad "node naming a missing tensor" "$T/missing2.json" "'$T/missing2.json': node 'mm' input 'v' is not a graph input, a tensor or an earlier node's output"

# ---- external data ------------------------------------------------------
mkdir "$T/ext" "$T/ext/sub"
# float32 1, NaN, 3, -inf (little-endian).
printf '\000\000\200\077\000\000\300\177\000\000\100\100\000\000\200\377' >"$T/ext/sub/w.bin"
printf '\000\000\200\077\000\000\000\100\000\000\100\100' >"$T/ext/good.bin"
json_with "$T/ext/good.json" '"dims": [3], "external_data": {"location": "good.bin", "offset": 0, "length": 12}'
run convert "$T/ext/good.json" -o "$T/ext/good.spzm"
expect_rc 0 "external data inside the folder is read"
run info "$T/ext/good.spzm"; expect_out '^  w +3 +float32 +other +3 ' "external data: values arrive"
json_with "$T/ext/nan.json" '"dims": [2], "external_data": {"location": "sub/w.bin", "offset": 0, "length": 8}'
bad "NaN in external data" "$T/ext/nan.json" "'$T/ext/nan.json': tensor 'w': NaN value at index 1$"
json_with "$T/ext/inf.json" '"dims": [2], "external_data": {"location": "sub/w.bin", "offset": 8, "length": 8}'
bad "Inf in external data" "$T/ext/inf.json" "'$T/ext/inf.json': tensor 'w': infinite value at index 1$"
json_with "$T/ext/abs.json" "\"dims\": [3], \"external_data\": {\"location\": \"$T/ext/good.bin\", \"offset\": 0, \"length\": 12}"
bad "external data at an absolute path" "$T/ext/abs.json" "'$T/ext/abs.json': tensor 'w' external_data: location '$T/ext/good.bin' must be a relative path inside the model's folder"
json_with "$T/ext/sub/up.json" '"dims": [3], "external_data": {"location": "../good.bin", "offset": 0, "length": 12}'
bad "external data through .." "$T/ext/sub/up.json" "location '../good.bin' must be a relative path inside the model's folder"
json_with "$T/ext/eof.json" '"dims": [3], "external_data": {"location": "good.bin", "offset": 4, "length": 12}'
bad "external data past the end of its file" "$T/ext/eof.json" "'$T/ext/eof.json': tensor 'w' external_data: bytes 4..16 are past the end of '$T/ext/good.bin' \(12 bytes\)"
json_with "$T/ext/none.json" '"dims": [3], "external_data": {"location": "nope.bin", "offset": 0, "length": 12}'
bad "external data file missing" "$T/ext/none.json" "cannot open '$T/ext/nope.bin': No such file or directory"

# ---- binary: magic, version, flags, truncation, CRC, NaN ----------------
"$SPZ" gen mlp --dims 3,2 --seed 1 -o "$T/m.spzm"
L=$(u32at "$T/m.spzm" 16)
start=$(((32 + L + 63) / 64 * 64))
size=$(wc -c <"$T/m.spzm")
check "the sample .spzm has the expected size" test "$size" -eq $((start + 72))

cp "$T/m.spzm" "$T/magic.spzm"; patch "$T/magic.spzm" 4 '\n'
bad "wrong magic" "$T/magic.spzm" "'$T/magic.spzm': not a .spzm file \(wrong magic"
cp "$T/m.spzm" "$T/ver.spzm"; patch "$T/ver.spzm" 8 '\003'
bad "unknown .spzm version" "$T/ver.spzm" "'$T/ver.spzm': .spzm version 3 is not supported \(this spz reads versions 1 and 2\)"
cp "$T/m.spzm" "$T/flags.spzm"; patch "$T/flags.spzm" 12 '\002'
bad "non-zero flags" "$T/flags.spzm" "'$T/flags.spzm': header flags 0x2 are not supported"

cut_at() { # NAME BYTES PATTERN
	head -c "$2" "$T/m.spzm" >"$T/cut.spzm"
	bad "truncated in $1" "$T/cut.spzm" "'$T/cut.spzm': truncated in $3"
}
cut_at "the magic" 5 "header \(5 of 32 bytes\)"
cut_at "the header" 20 "header \(20 of 32 bytes\)"
cut_at "the manifest" 100 "manifest \(68 of $L bytes\)"
if [ $((32 + L)) -lt "$start" ]; then
	cut_at "the manifest padding" $((32 + L)) "padding after the manifest"
else
	ok "no manifest padding in this file (manifest ends on a boundary)"
fi
cut_at "the first payload" $((start + 10)) "tensor 'fc1.weight' \(10 of 24 bytes\)"
cut_at "the padding between payloads" $((start + 30)) "padding before tensor 'fc1.bias'"
cut_at "the last payload" $((size - 1)) "tensor 'fc1.bias' \(7 of 8 bytes\)"
head -c 20 "$T/m.spzm" >"$T/cut.spzm"
run_in "$T/cut.spzm" convert - -o "$T/out.spzm"
expect_rc 1 "truncated stdin: exit 1"; expect_err "^spz: '<stdin>': truncated in header" "truncated stdin is named <stdin>"
expect_no_file "$T/out.spzm" "truncated stdin: no output file"

cp "$T/m.spzm" "$T/crc.spzm"; patch "$T/crc.spzm" $((start + 66)) '\001'
bad "payload CRC mismatch" "$T/crc.spzm" "'$T/crc.spzm': tensor 'fc1.bias': CRC mismatch \(the file is corrupt\)"
cp "$T/m.spzm" "$T/mcrc.spzm"; patch "$T/mcrc.spzm" 40 'X'
bad "manifest CRC mismatch" "$T/mcrc.spzm" "'$T/mcrc.spzm': manifest CRC mismatch"
cp "$T/m.spzm" "$T/trail.spzm"; printf 'x' >>"$T/trail.spzm"
bad "trailing bytes" "$T/trail.spzm" "'$T/trail.spzm': trailing bytes after the last tensor"

# A NaN payload with a valid CRC: rebuild the file around patched data.
dd if="$T/m.spzm" of="$T/man" bs=1 skip=32 count="$L" 2>/dev/null
tail -c 72 "$T/m.spzm" >"$T/data"
head -c 24 "$T/data" >"$T/w.old"
patch "$T/data" 12 '\000\000\300\177'
head -c 24 "$T/data" >"$T/w.new"
sed "s/\"crc32\": $(crc32 "$T/w.old")}/\"crc32\": $(crc32 "$T/w.new")}/" "$T/man" >"$T/man.nan"
check "the manifest now carries the new CRC" sh -c "! cmp -s '$T/man' '$T/man.nan'"
mkspzm "$T/man.nan" "$T/data" "$T/nan.spzm"
bad "NaN in a .spzm payload (valid CRC)" "$T/nan.spzm" "'$T/nan.spzm': tensor 'fc1.weight': NaN value at index 3$"
run info "$T/nan.spzm"
expect_rc 1 "info refuses it too"; expect_one_line "info: one line"

# ---- inputs that cannot be read -----------------------------------------
bad "a directory as input" "$T/ext" "cannot read '$T/ext': Is a directory"
bad "a missing input" "$T/nope.json" "cannot open '$T/nope.json': No such file or directory"
bad "an input that fails to read" /proc/self/mem "cannot read '/proc/self/mem': Input/output error"
cp "$T/ext/good.json" "$T/secret.json"
chmod 000 "$T/secret.json"
if [ "$(id -u)" != 0 ]; then
	bad "an unreadable input" "$T/secret.json" "cannot open '$T/secret.json': Permission denied"
elif command -v setpriv >/dev/null 2>&1; then
	# Root reads anything: run spz as nobody on a copy it can reach.
	mkdir "$T/pub"; chmod 755 "$T" "$T/pub"
	cp "$SPZ" "$T/pub/spz"; mv "$T/secret.json" "$T/pub/secret.json"
	asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	if asnobody "$T/pub/spz" --version >/dev/null 2>&1; then
		asnobody "$T/pub/spz" info "$T/pub/secret.json" >"$T/.out" 2>"$T/.err"
		rc=$?; err=$(cat "$T/.err")
		expect_rc 1 "an unreadable input (as nobody): exit 1"
		expect_err "^spz: cannot open '$T/pub/secret.json': Permission denied$" "an unreadable input: message"
		expect_one_line "an unreadable input: one line"
	else
		ok "# SKIP unreadable input: root reads any file, and nobody cannot reach $T"
	fi
else
	ok "# SKIP unreadable input: running as root without setpriv, and root reads any file"
fi

# ---- outputs that cannot be written -------------------------------------
good="$T/m.spzm"
run convert "$good" -o /proc/version/x.spzm
expect_rc 1 "output under a non-directory: exit 1"
expect_err "^spz: cannot write '/proc/version/x.spzm': Not a directory$" "output under a non-directory: message"
expect_one_line "output under a non-directory: one line"
run convert "$good" -o "$T/nodir/x.json"
expect_rc 1 "output in a missing folder: exit 1"
expect_err "^spz: cannot write '$T/nodir/x.json': No such file or directory$" "output in a missing folder: message"
mkdir "$T/outdir.json"
run convert "$good" -o "$T/outdir.json"
expect_rc 1 "a directory as output: exit 1"
expect_err "^spz: cannot write '$T/outdir.json': Is a directory$" "a directory as output: message"
check "the directory is untouched" test -d "$T/outdir.json"
check "no temporary left beside it" sh -c "! ls '$T'/outdir.json.tmp* 2>/dev/null"
run convert "$good" --to spzm -o /dev/full
expect_rc 1 "a full device: exit 1"
expect_err "^spz: cannot write '/dev/full': No space left on device$" "a full device: message"
expect_one_line "a full device: one line"
"$SPZ" convert "$good" --to json -o - >/dev/full 2>"$T/.err"
rc=$?; err=$(cat "$T/.err")
expect_rc 1 "stdout on a full device: exit 1"
expect_one_line "stdout on a full device: one line"
"$SPZ" info "$good" >/dev/full 2>"$T/.err"
rc=$?; err=$(cat "$T/.err")
expect_rc 1 "info on a full stdout: exit 1"
expect_err "^spz: cannot write '<stdout>': No space left on device$" "info on a full stdout: same wording as other outputs"
run gen mlp --dims 4,3 --to json -o /dev/full
expect_rc 1 "gen to a full device: exit 1"
if [ "$(id -u)" != 0 ]; then
	mkdir "$T/ro"; chmod 555 "$T/ro"
	run convert "$good" -o "$T/ro/x.spzm"
	expect_rc 1 "a read-only folder: exit 1"
	expect_err "Permission denied" "a read-only folder: message"
	expect_no_file "$T/ro/x.spzm" "a read-only folder: no file"
fi
# A failed conversion over an existing output keeps the old file whole.
cp "$good" "$T/keep.spzm"
run convert "$T/negdim.json" -o "$T/keep.spzm"
expect_rc 1 "failed convert over an existing file"
check "the existing output is untouched" cmp "$good" "$T/keep.spzm"
check "no temporary left behind" sh -c "! ls '$T'/keep.spzm.tmp* 2>/dev/null"
done_testing
