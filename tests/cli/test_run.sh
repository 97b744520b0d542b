#!/bin/sh
# test_run.sh - spz run: the emulator on packed images and quantized
# models, its outputs, JSON report, trace and check, and every refusal
# (one line, documented exit code, no output file left).
. "$(dirname "$0")/lib.sh"

FIG3="$SAMPLES/eie_fig3.json"
"$SPZ" pack "$FIG3" --pes 4 -o "$T/f3.eie" >/dev/null

# A quantized 6-5-3 MLP (Relu between, a bias on each layer).
cat >"$T/mlp.json" <<'JSON'
{"format": "spz-model", "version": 1, "name": "tiny",
 "inputs": ["input"], "outputs": ["output"],
 "nodes": [
  {"op": "Gemm", "name": "fc1", "inputs": ["input", "fc1.weight", "fc1.bias"], "outputs": ["h"], "attributes": {"transB": 1}},
  {"op": "Relu", "name": "relu1", "inputs": ["h"], "outputs": ["hr"]},
  {"op": "Gemm", "name": "fc2", "inputs": ["hr", "fc2.weight", "fc2.bias"], "outputs": ["output"], "attributes": {"transB": 1}}],
 "initializers": [
  {"name": "fc1.weight", "data_type": 1, "dims": [5, 6], "bits": 2, "codebook": [0, 0.5, -0.25, 1],
   "codes": [1, 0, 2, 0, 3, 0,  0, 1, 0, 0, 0, 2,  3, 3, 0, 0, 1, 0,  0, 0, 0, 0, 0, 0,  2, 0, 0, 1, 0, 3]},
  {"name": "fc1.bias", "data_type": 1, "dims": [5], "data": [0.1, -0.2, 0, 0.05, 0.3]},
  {"name": "fc2.weight", "data_type": 1, "dims": [3, 5], "bits": 2, "codebook": [0, 1, -1, 0.75],
   "codes": [1, 2, 0, 3, 1,  0, 0, 1, 0, 2,  3, 1, 1, 0, 0]},
  {"name": "fc2.bias", "data_type": 1, "dims": [3], "data": [0, 0.5, -0.5]}],
 "history": []}
JSON
"$SPZ" pack "$T/mlp.json" --pes 2 -o "$T/mlp.eie" >/dev/null

# num KEY: the first number after "KEY": in $out (the JSON report).
num() { printf '%s\n' "$out" | grep -m1 "\"$1\":" | sed 's/.*:[[:space:]]*//; s/,$//'; }

# --- runs ---------------------------------------------------------------
run run "$T/f3.eie" --random-input --check
expect_rc 0 "fig3 image, random input, --check"
expect_err "^spz run: 'eie-fig3': 1 layer on 4 PEs, FIFO 8, 800 MHz, 1 vector$" "text summary on stderr"
expect_err "^check against the float model: max abs error " "check line"; expect_err "max rel error .* \(tolerance 0.001\): ok$" "check passes"
expect_err "^fc: PE cycles min/mean/max busy " "per-PE busy/idle/stalled"
run run "$T/mlp.eie" --random-input --batch 3 --act-density 0.5 --json -q
expect_rc 0 "two layers, --json"
expect_out '"name":[[:space:]]+"fc1"' "layer named after its Gemm node"
expect_out '"name":[[:space:]]+"fc2"' "second layer"
expect_out '"act_density_in":[[:space:]]+0.5' "input density of the random vectors"
expect_out '"vectors":[[:space:]]+3' "batch counted"
expect_out '"check":[[:space:]]+null' "no check asked: null"
for k in cycles cycles_theoretical load_balance entries padding_entries act_density_out energy_pj time_us pe_busy pe_idle pe_stalled ccu_stall_cycles sram_reads total; do
	expect_out "\"$k\":" "JSON has $k"
done
check "no text with -q" test -z "$err"
run run "$T/mlp.eie" --random-input --batch 3 --act-density 0.5 --json -q
first=$out
run run "$T/mlp.eie" --random-input --batch 3 --act-density 0.5 --json -q
check "deterministic report" test "$first" = "$out"

# The model itself, packed in memory, runs exactly like its image.
run run "$T/mlp.eie" --random-input --seed 4 -o "$T/a.json" --json -q
ja=$out
run run "$T/mlp.json" --pes 2 --random-input --seed 4 -o "$T/b.json" --json -q
expect_rc 0 "a quantized model as input"
check "model and image give the same outputs" cmp "$T/a.json" "$T/b.json"
check "and the same statistics" test "$ja" = "$out"
run run "$T/mlp.json" --random-input --seed 4 -o "$T/c.json" --json -q
check "more PEs (64), same outputs" cmp "$T/a.json" "$T/c.json"

# Inputs and outputs in the same form.
echo '[1, 0.5, -0.25, 0, 2, 0.125]' >"$T/x1.json"
run run "$T/mlp.eie" --input "$T/x1.json" -o - -q
expect_rc 0 "one JSON vector"
expect_out '^\[[^][]*\]$' "one vector out"
printf '[[1, 0, 0, 0, 0, 0],\n [0, 1, 0, 0, 0, 0]]\n' >"$T/x2.json"
run run "$T/mlp.eie" --input "$T/x2.json" -o - -q
expect_out '^  \[.*\],$' "a batch out as an array of arrays"
check "two vectors out" test "$(printf '%s\n' "$out" | grep -c '^  \[')" -eq 2
printf '\000\000\200\077\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T/x.raw"
run run "$T/mlp.eie" --input "$T/x.raw" --input-raw -o "$T/y.raw" -q
expect_rc 0 "raw float32 in"
check "raw float32 out: 3 values" test "$(wc -c <"$T/y.raw")" -eq 12
run_in "$T/x1.json" run "$T/mlp.eie" --input - -o - -q
expect_rc 0 "input from stdin"

# Timing facts visible from the command line.
echo '[0, 0, 0, 0, 0, 0, 0, 0]' >"$T/zero.json"
run run "$T/f3.eie" --input "$T/zero.json" --json -q
check "all-zero input: only the fixed L + rows/PE = 1 + 4 cycles" test "$(num cycles)" -eq 5
check "all-zero input: no entries" test "$(num entries)" -eq 0
run run "$T/mlp.json" --pes 1 --random-input --fifo 1 --json -q
c1=$(num cycles)
run run "$T/mlp.json" --pes 1 --random-input --fifo 8 --json -q
check "FIFO 1 is slower than FIFO 8" test "$c1" -gt "$(num cycles)"
echo '{"int_mult_16": 0, "int_add_32": 0, "sram_read_32": 0}' >"$T/zeroe.json"
run run "$T/f3.eie" --random-input --energy "$T/zeroe.json" --json -q
expect_out '"energy_pj":[[:space:]]+0,' "--energy overrides the table"

# Trace.
run run "$T/f3.eie" --random-input --trace "$T/t.csv" --trace-cycles 3:6 -q
expect_rc 0 "trace"
check "trace header" test "$(head -1 "$T/t.csv")" = "cycle,pe,event,layer,col,row"
check "trace only holds cycles 3..5" sh -c "tail -n +2 '$T/t.csv' | cut -d, -f1 | sort -u | tr '\n' ' ' | grep -qx '3 4 5 '"
check "every PE has a line each cycle" test "$(tail -n +2 "$T/t.csv" | grep -vc ',ccu,')" -ge 12
check "entries are traced with column and row" grep -Eq '^[0-9]+,[0-3],mac,0,[0-9]+,[0-9]+$' "$T/t.csv"
check "the CCU broadcasts" grep -Eq '^[0-9]+,ccu,bcast,0,[0-9]+,$' "$T/t.csv"

# The sample MLP through the whole pipeline stays within the default
# tolerance, and the check reports it.
"$SPZ" gen mlp --dims 784,300,100,10 --seed 1 -o "$T/s.spzm"
"$SPZ" quantize "$T/s.spzm" -o "$T/sq.spzm" >/dev/null 2>&1
"$SPZ" pack "$T/sq.spzm" -o "$T/s.eie" >/dev/null
run run "$T/s.eie" --random-input --batch 8 --act-density 0.35 --check --json -q
expect_rc 0 "sample MLP: --check passes"
check "sample MLP: relative error below 1e-3" awk -v e="$(num max_rel_error)" 'BEGIN { exit !(e > 0 && e < 1e-3) }'
# A trace bigger than stdio's buffer fails while the emulator runs: the
# message is the write error, as for any other output.
run run "$T/s.eie" --random-input --trace /dev/full -q
expect_rc 1 "trace onto a full device"
expect_err "^spz: cannot write '/dev/full': No space left on device$" "trace write error: names the file and why"
expect_one_line "trace write error: one line"

# --- check failures -----------------------------------------------------
run run "$T/f3.eie" --random-input --check --tolerance 0 -o "$T/o.json" --json
expect_rc 3 "error above --tolerance: exit 3"
expect_err "FAILED$" "check failure reported"
expect_out '"passed":[[:space:]]+false' "JSON report still written"
expect_no_file "$T/o.json" "no outputs after a failed check"
run run "$T/f3.eie" --random-input --check --act-frac-bits 15,17 -q
expect_rc 3 "an output format that saturates fails the check"
expect_err "^spz run: check failed: max rel error .* > --tolerance 0.001 \(max abs error .*\)$" "-q: a failed check still says why"
expect_one_line "-q: a failed check is one line"

# --- bad input ------------------------------------------------------------
echo '[1, 2, 3]' >"$T/short.json"
run run "$T/f3.eie" --input "$T/short.json" -o "$T/o.json"
expect_rc 1 "wrong input length"
expect_err "^spz: '$T/short.json': vector 0 has 3 values, the first layer takes 8$" "wrong length named"
expect_one_line "wrong length: one line"
expect_no_file "$T/o.json" "wrong length: no output"
echo '[[1, 0, 0, 0, 0, 0], [1, 2]]' >"$T/ragged.json"
run run "$T/mlp.eie" --input "$T/ragged.json"
expect_rc 1 "ragged batch"; expect_err "vector 1 has 2 values" "ragged: names the vector"
echo '[1, 0, 0, 0, 0, 1e999]' >"$T/inf.json"
run run "$T/mlp.eie" --input "$T/inf.json" -o "$T/o.json"
expect_rc 1 "infinite JSON input"
expect_err "vector 0, index 5: value outside the float32 range" "infinite: names the index"
expect_no_file "$T/o.json" "infinite: no output"
printf '\000\000\300\177\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T/nan.raw"
run run "$T/mlp.eie" --input "$T/nan.raw" --input-raw -o "$T/o.raw"
expect_rc 1 "NaN raw input"
expect_err "^spz: '$T/nan.raw': vector 0, index 0 is NaN$" "NaN: names the index"
expect_one_line "NaN: one line"
expect_no_file "$T/o.raw" "NaN: no output"
head -c 10 "$T/x.raw" >"$T/odd.raw"
run run "$T/mlp.eie" --input "$T/odd.raw" --input-raw
expect_rc 1 "raw size not a whole vector"
echo 'not json' >"$T/bad.json"
run run "$T/mlp.eie" --input "$T/bad.json"
expect_rc 1 "input that is not JSON"; expect_one_line "not JSON: one line"
cp "$T/f3.eie" "$T/bad.eie"
printf '\377' | dd of="$T/bad.eie" bs=1 seek=230 conv=notrunc 2>/dev/null
run run "$T/bad.eie" --random-input -o "$T/o.json"
expect_rc 1 "corrupt image"
expect_err "CRC mismatch" "corrupt image: CRC named"
expect_one_line "corrupt image: one line"
expect_no_file "$T/o.json" "corrupt image: no output"
head -c 100 "$T/f3.eie" >"$T/short.eie"
run run "$T/short.eie" --random-input
expect_rc 1 "truncated image"; expect_one_line "truncated image: one line"
"$SPZ" gen mlp --dims 6,4,2 -o "$T/dense.spzm"
run run "$T/dense.spzm" --random-input
expect_rc 1 "unquantized model"
expect_err "is not quantized; run 'spz quantize' first" "unquantized: says what to do"
# An image of another kind (the kind byte at offset 10: 2 = CSC).
cp "$T/f3.eie" "$T/f3.csc"
printf '\002' | dd of="$T/f3.csc" bs=1 seek=10 conv=notrunc 2>/dev/null
run run "$T/f3.csc" --random-input
expect_rc 1 "CSC image"; expect_err "is a CSC image; spz run executes EIE images" "CSC: says so"
run run "$T/missing.eie" --random-input
expect_rc 1 "missing image"; expect_one_line "missing image: one line"
run run "$T/f3.eie" --random-input --trace "$T/t2.csv" --trace-cycles 5000:6000 -o "$T/o.json"
expect_rc 1 "trace window past the end"
expect_err "^spz: --trace-cycles 5000:6000 starts past the end of the run \([0-9]+ cycles\)$" "window past the end: says so"
expect_one_line "window past the end: one line"
expect_no_file "$T/t2.csv" "window past the end: no trace"
expect_no_file "$T/o.json" "window past the end: no outputs"

# --- bad command lines ----------------------------------------------------
run run "$T/f3.eie" --random-input --pes 0;   expect_rc 2 "--pes 0"; expect_err "--pes takes 1..4096" "--pes range named"
run run "$T/mlp.json" --random-input --pes 5000; expect_rc 2 "--pes 5000"
run run "$T/f3.eie" --random-input --fifo 0;  expect_rc 2 "--fifo 0"; expect_err "--fifo takes 1..65536" "--fifo range named"; expect_one_line "--fifo 0: one line"
run run "$T/f3.eie" --random-input --pes 8;   expect_rc 2 "--pes on an image"; expect_err "packed for 4 PEs" "--pes on an image: says why"
run run "$T/f3.eie";                          expect_rc 2 "no input"; expect_err "give one of --input FILE, --random-input and --data DIR" "no input: says what to give"
run run "$T/f3.eie" --random-input --input "$T/x1.json"; expect_rc 2 "both inputs"
run run "$T/f3.eie" --input-raw --random-input; expect_rc 2 "--input-raw without --input"
run run "$T/f3.eie" --input "$T/x1.json" --batch 2; expect_rc 2 "--batch without --random-input"
run run "$T/f3.eie" --random-input --act-density 2; expect_rc 2 "--act-density 2"
run run "$T/f3.eie" --random-input --trace-cycles 1:2; expect_rc 2 "--trace-cycles without --trace"
run run "$T/f3.eie" --random-input --trace "$T/t3.csv" --trace-cycles 9:3; expect_rc 2 "window A >= B"
expect_no_file "$T/t3.csv" "bad window: no trace"
run run "$T/f3.eie" --random-input --act-frac-bits 1,2,3; expect_rc 2 "--act-frac-bits of the wrong count"
run run "$T/f3.eie" --random-input --act-frac-bits 99; expect_rc 2 "--act-frac-bits out of range"
run run "$T/f3.eie" --random-input --clock-mhz 0; expect_rc 2 "--clock-mhz 0"
run run "$T/f3.eie" --random-input --tolerance -1; expect_rc 2 "negative tolerance"
run run "$T/f3.eie" --random-input -o - --json; expect_rc 2 "-o - and --json both on stdout"
run run "$T/f3.eie" --random-input --json "$T/st.json"; expect_rc 2 "--json FILE (space)"
expect_err "--json writes to a file as --json=FILE, not '$T/st.json'" "--json FILE: says how to write it"
expect_one_line "--json FILE: one line"; expect_no_file "$T/st.json" "--json FILE: no file"
run run "$T/f3.eie" --random-input --bogus;   expect_rc 2 "unknown option"; expect_one_line "unknown option: one line"
run run - --input - </dev/null;               expect_rc 2 "image and input both stdin"
run run "$T/f3.eie" --random-input --energy "$T/missing.json"; expect_rc 1 "missing energy table"
run run --help;                               expect_rc 0 "--help"; expect_out "^usage: spz run IMAGE" "--help shows usage"
done_testing
