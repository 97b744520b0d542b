#!/bin/sh
# test_strict.sh - issue 10, defects 3, 4 and 7: a small file declaring huge
# dims fails small with its true fault; a bad header or an endless stream
# fails at once (time-bounded here) and under a memory limit; every JSON
# spz reads is strict (trailing bytes, duplicate and unknown keys, names
# that are not text, \u0000, 1e400), with one line naming file and key.
. "$(dirname "$0")/lib.sh"

# A memory limit where it can apply: a sanitizer build reserves terabytes
# of address space up front and cannot start under one.
LIMIT=600000
if ! (ulimit -v $LIMIT && "$SPZ" --version) >/dev/null 2>&1; then
	LIMIT=unlimited
fi
# Runs spz with ARGS under the memory limit and a 5 s time limit, stdin
# from the command in $GEN (a generator of a big input) or /dev/null.
limited() {
	sh -c "$GEN" 2>/dev/null | (ulimit -v $LIMIT; timeout 5 "$SPZ" "$@") \
		>"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(cat "$T/.out"); err=$(cat "$T/.err")
}
# NAME RC PATTERN: the last run's exit, message, and one line.
fails() {
	expect_rc "$2" "$1: exit $2"
	expect_err "$3" "$1: message"
	expect_one_line "$1: one line"
}

model() { # NAME INITIALIZER [EXTRA-TOP-LEVEL] > file
	printf '{"format": "spz-model", "version": 1, "name": "m", "inputs": ["x"], "outputs": ["y"], "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}], "initializers": [%s]%s}\n' "$1" "${2:-}"
}

# ---- 3: allocation follows the bytes present -------------------------

GEN=true
model '{"name": "w", "data_type": 1, "dims": [65536, 65536], "data": [1, 2]}' >"$T/huge.json"
limited convert "$T/huge.json" -o "$T/o.spzm"
fails "json 65536x65536 with 2 values" 1 "'.*huge.json': tensor 'w': \"data\" has 2 values but the dims give 4294967296"
expect_no_file "$T/o.spzm" "json huge dims: no output"
model '{"name": "w", "data_type": 1, "dims": [65536, 65536], "bits": 2, "codebook": [0, 1], "codes": [0, 1, 1]}' >"$T/hugeq.json"
limited info "$T/hugeq.json"
fails "json huge quantized" 1 "\"codes\" has 3 values but the dims give 4294967296"
printf 'abcd' >"$T/w.bin"
model '{"name": "w", "data_type": 1, "dims": [65536, 65536], "external_data": {"location": "w.bin", "offset": 0, "length": 17179869184}}' >"$T/hugex.json"
limited info "$T/hugex.json"
fails "external data past the file" 1 "bytes 0..17179869184 are past the end of '.*w.bin' \(4 bytes\)"

# A .spzm whose manifest says [65536, 65536] over an 8-float payload.
"$SPZ" gen layer --rows 2 --cols 2 -o "$T/l.spzm" 2>/dev/null
/usr/bin/python3 - "$T/l.spzm" "$T/huge.spzm" <<'EOF'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
n = struct.unpack_from('<Q', b, 16)[0]
man = b[32:32 + n].decode()
payload = b[(32 + n + 63) // 64 * 64:]
man = man.replace('"dims": [2, 2]', '"dims": [65536, 65536]', 1)
man = man.replace('"length": 16', '"length": 17179869184', 1)
m = man.encode()
head = b[:8] + struct.pack('<IIQII', 1, 0, len(m), zlib.crc32(m), 0)
open(sys.argv[2], 'wb').write(head + m + bytes(-(32 + len(m)) % 64) + payload)
EOF
check ".spzm fixture is small" test "$(wc -c <"$T/huge.spzm")" -lt 1024
limited info "$T/huge.spzm"
fails ".spzm huge dims, file" 1 "'.*huge.spzm': truncated in tensor 'fc.weight' \(72 of 17179869184 bytes\)"
GEN="cat '$T/huge.spzm'"
limited info -
fails ".spzm huge dims, pipe" 1 "'<stdin>': truncated in tensor 'fc.weight' \(72 of 17179869184 bytes\)"

# Reading from a pipe grows the storage as bytes arrive: a tensor larger
# than the first piece reads back the same as from a file.
"$SPZ" gen layer --rows 1024 --cols 700 -o "$T/big.spzm" 2>/dev/null
"$SPZ" convert "$T/big.spzm" -o "$T/big-file.json" 2>/dev/null
cat "$T/big.spzm" | "$SPZ" convert - -o "$T/big-pipe.json" 2>/dev/null
check ".spzm from a pipe: same model as from the file" cmp "$T/big-file.json" "$T/big-pipe.json"
"$SPZ" quantize "$T/big.spzm" -o "$T/bigq.spzm" 2>/dev/null
"$SPZ" convert "$T/bigq.spzm" -o "$T/bigq-file.json" 2>/dev/null
cat "$T/bigq.spzm" | "$SPZ" convert - -o "$T/bigq-pipe.json" 2>/dev/null
check "quantized .spzm from a pipe: same model" cmp "$T/bigq-file.json" "$T/bigq-pipe.json"
for kind in eie csr csc; do
	"$SPZ" pack "$T/bigq.spzm" --format $kind -o "$T/big.$kind" >/dev/null 2>&1
	"$SPZ" unpack "$T/big.$kind" -o "$T/u-file.json" 2>/dev/null
	cat "$T/big.$kind" | "$SPZ" unpack - -o "$T/u-pipe.json" 2>/dev/null
	check "$kind image from a pipe: same model as from the file" cmp "$T/u-file.json" "$T/u-pipe.json"
	check "$kind image: the unpacked model is not empty" test -s "$T/u-file.json"
done
rm -f "$T"/big* "$T"/u-*.json

# ---- 4: the header first, caps on what is read ------------------------

"$SPZ" quantize "$T/l.spzm" -o "$T/q.spzm" 2>/dev/null
"$SPZ" pack "$T/q.spzm" --pes 2 -o "$T/l.eie" >/dev/null 2>&1
GEN="head -c 8 '$T/l.eie'; head -c 1000000000 /dev/zero"
limited report -
fails "image magic + 1 GB zeros" 1 "'<stdin>': image version 0 is not supported"
GEN="head -c 12 '$T/l.eie'; head -c 1000000000 /dev/zero"
limited info -
fails "image header + 1 GB zeros" 1 "'<stdin>': CRC mismatch in header"
GEN="printf 'SPZM\r\n\032\n'; head -c 1000000000 /dev/zero"
limited info -
fails ".spzm magic + 1 GB zeros" 1 "'<stdin>': .spzm version 0 is not supported"
GEN="printf '{'; head -c 1000000000 /dev/zero"
limited info -
fails "{ + 1 GB zeros" 1 "'<stdin>': not JSON \(control character 0x00 at line 1\)"
GEN="printf '{'; yes ' ' | head -c 1000000000"
limited info -
fails "{ + 1 GB blanks" 1 "'<stdin>': more than 1 MiB of blanks in a row at line"
GEN="printf '{}'; head -c 1000000000 /dev/zero"
limited info -
fails "{} + 1 GB zeros" 1 "'<stdin>': not JSON \(control character 0x00 at line 1\)"
GEN="printf '[1, 2]'; yes x | head -c 1000000000"
limited run "$T/l.eie" --input -
fails "run input + 1 GB text" 1 "'<stdin>': not JSON \(text after the end of the JSON value at line 1\)"
GEN="printf '['; head -c 1000000000 /dev/zero"
limited run "$T/l.eie" --input -
fails "run [ + 1 GB zeros" 1 "'<stdin>': not JSON \(control character 0x00"
GEN="printf '['; yes ' ' | head -c 1000000000"
limited run "$T/l.eie" --input -
fails "run [ + 1 GB blanks" 1 "more than 1 MiB of blanks in a row"
# Caps: a regular file is refused by its size, before a byte is read
# (sparse files: no disk is used).
GEN=true
printf '{' >"$T/big.json"; truncate -s 1100M "$T/big.json"
limited info "$T/big.json"
fails "model JSON over 1 GiB" 1 "'.*big.json': more than 1 GiB, the most a JSON model may hold"
printf '[' >"$T/big.in"; truncate -s 300M "$T/big.in"
limited run "$T/l.eie" --input "$T/big.in"
fails "run input over 256 MiB" 1 "more than 256 MiB, the most a run input may hold"
limited run "$T/l.eie" --input "$T/big.in" --input-raw
fails "raw run input over 256 MiB" 1 "more than 256 MiB, the most a run input may hold"
printf '{' >"$T/big.cfg"; truncate -s 17M "$T/big.cfg"
limited prune "$T/l.spzm" --config "$T/big.cfg" -o "$T/o.spzm"
fails "prune config over 16 MiB" 1 "more than 16 MiB, the most a prune config may hold"
limited report "$T/l.eie" --energy "$T/big.cfg"
fails "energy table over 16 MiB" 1 "more than 16 MiB, the most an energy table may hold"
GEN="printf '{\"a\": ['; yes '1,' | head -c 20000000"
limited report "$T/l.eie" --energy -
fails "energy table on a pipe over 16 MiB" 1 "'<stdin>': more than 16 MiB"
rm -f "$T/big.json" "$T/big.in" "$T/big.cfg"
GEN=true

# ---- 7: strict JSON everywhere -----------------------------------------

W='{"name": "w", "data_type": 1, "dims": [1, 1], "data": [1]}'
bad_model() { # NAME FILE PATTERN
	run convert "$2" -o "$T/o.spzm"
	fails "$1" 1 "$3"
	expect_no_file "$T/o.spzm" "$1: no output"
}
model "$W" >"$T/ok.json"
run convert "$T/ok.json" -o "$T/o.spzm"
expect_rc 0 "the strict fixture model reads"
rm -f "$T/o.spzm"
model '{"name": "w", "data_type": 1, "dims": [1, 1], "dims": [5, 5], "data": [1]}' >"$T/m.json"
bad_model "duplicate dims" "$T/m.json" "'.*m.json': duplicate key \"dims\" in initializers\[0\]"
model "$W" ', "name": "again"' >"$T/m.json"
bad_model "duplicate top-level key" "$T/m.json" "duplicate key \"name\" in the top-level object"
sed 's/"attributes"/"atributes"/' "$T/ok.json" >"$T/m.json"
bad_model "misspelled attributes" "$T/m.json" "'.*m.json': node 0: unknown key \"atributes\""
model "$W" ', "histroy": []' >"$T/m.json"
bad_model "unknown top-level key" "$T/m.json" "'.*m.json': unknown key \"histroy\""
model '{"name": "w", "data_type": 1, "dims": [1, 1], "data": [1], "dtype": 1}' >"$T/m.json"
bad_model "unknown tensor key" "$T/m.json" "initializer 0: unknown key \"dtype\""
sed 's/"name": "w"/"name": "w\xff"/; s/"x", "w"/"x", "w\xff"/' "$T/ok.json" >"$T/m.json"
bad_model "invalid UTF-8 in a name" "$T/m.json" "'.*m.json': nodes\[0\].inputs\[1\]: invalid UTF-8 at byte 1 of the string"
sed 's/"name": "m"/"name": "m\\u0000evil"/' "$T/ok.json" >"$T/m.json"
bad_model "\\u0000 in a name" "$T/m.json" "\\\\u0000 in a string at line 1"
sed 's/"name": "mm"/"name": "\\u001b[31mred"/' "$T/ok.json" >"$T/m.json"
bad_model "escape sequence in a name" "$T/m.json" "node 0: \"name\" is not a name \(invalid UTF-8 or a control character at byte 0\)"
run info "$T/m.json"
check "info prints no escape byte" sh -c "! grep -q \"$(printf '\033')\" '$T/.err' '$T/.out'"
printf '{"format": "spz-model", "version": 1, "name": "m\033[2J"}' >"$T/m.json"
bad_model "raw control character in a string" "$T/m.json" "not JSON \(control character 0x1b in a string at line 1\)"
model "$W" >"$T/m.json"; printf '{}' >>"$T/m.json"
bad_model "model trailing bytes" "$T/m.json" "text after the end of the JSON value at line 2"

printf '{"sram_read_32": 5} x' >"$T/e.json"
run report "$T/l.eie" --energy "$T/e.json"
fails "energy trailing bytes" 1 "'.*e.json': not JSON \(text after the end of the JSON value at line 1\)"
printf '{"sram_read_32": 5, "sram_read_32": 6}' >"$T/e.json"
run report "$T/l.eie" --energy "$T/e.json"
fails "energy duplicate key" 1 "duplicate key \"sram_read_32\""
printf '{"sram_read_32": 1e400}' >"$T/e.json"
run report "$T/l.eie" --energy "$T/e.json"
fails "energy 1e400" 1 "energy entry 'sram_read_32' must be a finite number >= 0 \(pJ\)"
check "energy 1e400: no inf printed" sh -c "! grep -q inf '$T/.out'"

printf '[1, 2] [3, 4]' >"$T/in.json"
run run "$T/l.eie" --input "$T/in.json"
fails "run input trailing bytes" 1 "'.*in.json': not JSON \(text after the end of the JSON value at line 1\)"
printf '[1, 2]\n\n' >"$T/in.json"
run run "$T/l.eie" --input "$T/in.json"
expect_rc 0 "run input: trailing blanks are fine"

printf '{"rules": [{"match": "fc.weight", "sparsity": 0.5}]} {}' >"$T/c.json"
run prune "$T/l.spzm" --config "$T/c.json" -o "$T/o.spzm"
fails "config trailing bytes" 1 "text after the end of the JSON value"
expect_no_file "$T/o.spzm" "config trailing bytes: no output"
printf '{"rules": [{"match": "fc.weight", "sparsity": 0.5}], "rules": []}' >"$T/c.json"
run prune "$T/l.spzm" --config "$T/c.json" -o "$T/o.spzm"
fails "config duplicate rules" 1 "'.*c.json': duplicate key \"rules\" in the top-level object"
printf '{"rules": [{"match": "fc.weight", "sparsity": 0.5, "sparsity": 0.9}]}' >"$T/c.json"
run prune "$T/l.spzm" --config "$T/c.json" -o "$T/o.spzm"
fails "config duplicate key in a rule" 1 "duplicate key \"sparsity\" in rules\[0\]"
printf '{"rules": [{"match": "fc\\u0007", "sparsity": 0.5}]}' >"$T/c.json"
run prune "$T/l.spzm" --config "$T/c.json" -o "$T/o.spzm"
fails "config glob with a control character" 1 "rule 0: \"match\" is not a name"

done_testing
