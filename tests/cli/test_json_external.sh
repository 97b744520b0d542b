#!/bin/sh
# test_json_external.sh - spz convert --external-data-threshold and
# --external-data with a JSON output: big tensors go to a raw file beside
# the model, small ones stay in the JSON, the pair reads back to the same
# model (checked against NumPy reading the raw bytes), and every misuse is
# a one-line usage error (exit 2) that leaves no file behind.
. "$(dirname "$0")/lib.sh"

run gen mlp --dims 20,16,4 --seed 3 -o "$T/m.spzm"
expect_rc 0 "gen a small MLP"

# 20x16 floats = 1280 bytes, 16x4 = 256, biases 64 and 16 bytes.
mkdir -p "$T/a"
run convert "$T/m.spzm" -o "$T/a/m.json" --external-data-threshold 256
expect_rc 0 "--external-data-threshold writes"
check "the raw file is beside the model, named after it" test -s "$T/a/m.data"
check "raw file holds the two weights (1280 + 256 bytes)" \
	test "$(wc -c <"$T/a/m.data")" -eq 1536
check "weights are external_data" grep -q '"external_data": {"location": "m.data", "offset": 1280, "length": 256}' "$T/a/m.json"
check "tensors under the threshold stay inline" grep -q '"data": \[' "$T/a/m.json"
run convert "$T/a/m.json" -o "$T/back.spzm"
expect_rc 0 "the pair reads back"
check "JSON + raw file -> .spzm is the same bytes" cmp "$T/m.spzm" "$T/back.spzm"

# Outside oracle: NumPy reads the raw little-endian float32 at the offsets
# the JSON gives, and they equal the inline text of a plain conversion.
run convert "$T/m.spzm" -o "$T/plain.json"
expect_rc 0 "plain JSON"
check "NumPy reads the external bytes as the inline numbers" /usr/bin/python3 - "$T/a/m.json" "$T/plain.json" <<'PY'
import json, sys, os
import numpy as np
ext = json.load(open(sys.argv[1]))
plain = {t["name"]: t for t in json.load(open(sys.argv[2]))["initializers"]}
n = 0
for t in ext["initializers"]:
    if "external_data" not in t:
        continue
    x = t["external_data"]
    raw = open(os.path.join(os.path.dirname(sys.argv[1]), x["location"]), "rb")
    raw.seek(x["offset"])
    a = np.frombuffer(raw.read(x["length"]), dtype="<f4")
    b = np.array(plain[t["name"]]["data"], dtype=np.float32)
    assert a.tobytes() == b.tobytes(), t["name"]
    n += 1
assert n == 2, n
PY

# Threshold 0: every dense tensor goes; --external-data names the file.
mkdir -p "$T/b"
run convert "$T/m.spzm" -o "$T/b/model.json" --external-data-threshold 0 --external-data w.bin
expect_rc 0 "--external-data names the file"
check "named raw file holds all four tensors" test "$(wc -c <"$T/b/w.bin")" -eq 1616
check "no data array is left" sh -c "! grep -q '\"data\": \\[' '$T/b/model.json'"
# --external-data alone: ONNX's threshold, 1 KiB.
mkdir -p "$T/c"
run convert "$T/m.spzm" -o "$T/c/m.json" --external-data m.raw
expect_rc 0 "--external-data alone with a JSON output"
check "only the 1280-byte tensor is at least 1 KiB" test "$(wc -c <"$T/c/m.raw")" -eq 1280
# A huge threshold: nothing goes, the raw file is empty.
run convert "$T/m.spzm" -o "$T/c/n.json" --external-data-threshold 1000000
expect_rc 0 "threshold above every tensor"
check "the model equals a plain conversion" cmp "$T/c/n.json" "$T/plain.json"
# quantized tensors stay in the JSON
run quantize "$T/m.spzm" --bits 4 -o "$T/q.spzm"
expect_rc 0 "quantize"
run convert "$T/q.spzm" -o "$T/c/q.json" --external-data-threshold 0
expect_rc 0 "quantized model with a threshold"
check "codes stay in the JSON" grep -q '"codes": \[' "$T/c/q.json"

# Errors: exit 2, one line, no output file.
for bad in abc -1 1.5 "" 99999999999999999999999; do
	run convert "$T/m.spzm" -o "$T/e.json" --external-data-threshold "$bad"
	expect_rc 2 "threshold '$bad': exit 2"
	expect_err "^spz convert: --external-data-threshold takes a number of bytes, not '$bad'" "threshold '$bad': message"
	expect_one_line "threshold '$bad': one line"
	expect_no_file "$T/e.json" "threshold '$bad': no output"
	expect_no_file "$T/e.data" "threshold '$bad': no raw file"
done
run convert "$T/m.spzm" -o "$T/e.spzm" --external-data-threshold 10
expect_rc 2 "threshold with a .spzm output: exit 2"
expect_err "^spz convert: --external-data-threshold goes with a JSON output" "threshold with .spzm: message"
expect_no_file "$T/e.spzm" "threshold with .spzm: no output"
run convert "$T/m.spzm" -o "$T/e.onnx" --external-data-threshold 10
expect_rc 2 "threshold with an ONNX output: exit 2"
expect_err "^spz convert: --external-data-threshold goes with a JSON output" "threshold with .onnx: message"
run convert "$T/m.spzm" -o - --to json --external-data-threshold 10
expect_rc 2 "threshold with standard output: exit 2"
expect_err "^spz convert: --external-data-threshold needs the model in a file" "threshold to stdout: message"
run convert "$T/m.spzm" -o "$T/e.json" --external-data e.json
expect_rc 2 "raw file named as the model: exit 2"
expect_err "^spz convert: --external-data 'e.json' would be the model itself" "raw file named as the model: message"
expect_one_line "raw file named as the model: one line"
expect_no_file "$T/e.json" "raw file named as the model: no output"
run convert "$T/m.spzm" -o "$T/nodir/e.json" --external-data-threshold 0
expect_rc 1 "missing folder: exit 1"
expect_one_line "missing folder: one line"
expect_no_file "$T/nodir/e.data" "missing folder: no raw file"

# The model is saved, then its --json report fails (standard output is a
# full device): the model is taken back, and so is its external data,
# whichever command, format and folder.
if [ -w /dev/full ]; then
	mkdir -p "$T/rb"
	for args in "gen mlp --dims 40,30,10" "convert $T/m.spzm" \
	            "prune --sparsity 0.5 $T/m.spzm"; do
		for o in rb/r.json rb/r.onnx; do
			# shellcheck disable=SC2086
			"$SPZ" $args -o "$T/$o" --external-data r.bin --json >/dev/full 2>"$T/.err"
			rc=$?; err=$(cat "$T/.err")
			expect_rc 1 "$args -o $o --json to a full device: exit 1"
			expect_one_line "$args -o $o --json to a full device: one line"
			expect_no_file "$T/$o" "$args -o $o: the model taken back"
			expect_no_file "$T/rb/r.bin" "$args -o $o: its external data too"
		done
	done
fi

done_testing
