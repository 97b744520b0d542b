#!/bin/sh
# test_quantize.sh - spz quantize: codebooks, selection, rules, reports,
# determinism, round trips, and every refusal (exit code, one line, no file).
. "$(dirname "$0")/lib.sh"

"$SPZ" gen mlp --dims 64,48,32,10 --seed 3 -o "$T/m.spzm"
"$SPZ" gen layer --rows 40 --cols 50 --density 0.3 --seed 2 -o "$T/l.spzm"

run quantize "$T/m.spzm" -o "$T/q.spzm"
expect_rc 0 "quantize a model"
expect_err '^fc1\.weight +4 linear +[0-9]+ (yes|no) +16 ' "stderr has a line per tensor"
check "stderr has no bias line" sh -c "! grep -q bias '$T/.err'"
run info --wide "$T/q.spzm"
expect_out 'fc1\.weight .* 16 entries, 4 bits' "info shows the 4-bit codebook"
expect_out 'codebook: 0 -' "codebook starts with exact 0"
expect_out 'quantize \(spz [0-9.]+\) bits=4 init=linear optimal=false max_iter=100000 seed=1 requantize=false include= exclude= rules= tensors=fc1.weight,fc2.weight,fc3.weight' "history step with every parameter"
check "biases stay dense" sh -c "'$SPZ' info '$T/q.spzm' | grep -E '^  fc1\.bias .* -$'"

# Non-zero count unchanged (30% dense layer), at 1 and 8 bits too.
for b in 1 4 8; do
	run quantize --bits $b "$T/l.spzm" -o "$T/lq$b.spzm"
	expect_rc 0 "layer at $b bits"
	run info "$T/lq$b.spzm"
	expect_out "fc\.weight +40x50 +float32 +weight +600 " "non-zeros unchanged at $b bits"
done

# Standard input to standard output.
run_in "$T/m.spzm" quantize --bits 2
expect_rc 0 "stdin to stdout"
"$SPZ" quantize --bits 2 <"$T/m.spzm" 2>/dev/null | "$SPZ" info - >"$T/pipe.txt" 2>&1
check "pipe into info" grep -q '4 entries, 2 bits' "$T/pipe.txt"

run quantize "$T/m.spzm" --to json --max-iter 0
expect_rc 0 "--to json to stdout"
expect_out '"codes": \[' "stdout holds the quantized JSON model"
expect_err '^fc1\.weight +4 linear +0 no ' "--max-iter 0 keeps the initial centroids"

# JSON output round-trips through convert byte for byte.
run quantize "$T/m.spzm" -o "$T/q.json"
expect_rc 0 "quantize to JSON"
check "JSON has codebook and codes" sh -c "grep -q '\"codebook\"' '$T/q.json' && grep -q '\"codes\"' '$T/q.json' && grep -q '\"bits\": 4' '$T/q.json'"
"$SPZ" convert "$T/q.json" -o "$T/q2.spzm" && "$SPZ" convert "$T/q2.spzm" -o "$T/q3.json"
check "json -> spzm -> json is identical" cmp "$T/q.json" "$T/q3.json"
"$SPZ" convert "$T/q.spzm" -o "$T/q4.json" && "$SPZ" convert "$T/q4.json" -o "$T/q5.spzm"
check "spzm -> json -> spzm is identical" cmp "$T/q.spzm" "$T/q5.spzm"

# Statistics as JSON, to a file or to stdout when the model goes to a file.
run quantize "$T/m.spzm" -o "$T/r.spzm" --json="$T/r.json"
expect_rc 0 "--json FILE"
check "report has every key" sh -c "for k in name bits init iterations converged exact elements nonzeros mse sqnr_db max_abs_error codebook; do grep -q \"\\\"\$k\\\"\" '$T/r.json' || exit 1; done"
run quantize "$T/m.spzm" -o "$T/r2.spzm" --json
expect_rc 0 "--json - with -o FILE"
expect_out '"tensors"' "report on stdout"
expect_out '"codebook":[[:space:]]*\[0, ' "codebook in the report starts with 0"

# Per-tensor bits, selection.
run quantize "$T/m.spzm" -o "$T/rule.spzm" --rule 'fc3.*=2' --rule 'fc2.*=3' --rule 'fc2.w*=5'
expect_rc 0 "--rule"
run info "$T/rule.spzm"
expect_out 'fc1\.weight .* 16 entries, 4 bits' "rule leaves fc1 at --bits"
expect_out 'fc2\.weight .* 32 entries, 5 bits' "last matching rule wins"
expect_out 'fc3\.weight .* 4 entries, 2 bits' "rule sets fc3 to 2 bits"
expect_out 'rules=fc3\.\*=2,fc2\.\*=3,fc2\.w\*=5' "rules in the history"
run quantize "$T/m.spzm" -o "$T/inc.spzm" --include 'fc1.*'
expect_rc 0 "--include"
run info "$T/inc.spzm"
expect_out 'fc1\.bias .* 1 entry, 4 bits' "include selects the all-zero bias: codebook {0}"
expect_out 'fc2\.weight .* -$' "include drops the default set"
run quantize "$T/m.spzm" -o "$T/exc.spzm" --exclude 'fc1.*'
expect_rc 0 "--exclude"
run info "$T/exc.spzm"
expect_out 'fc1\.weight .* -$' "excluded tensor stays dense"
expect_out 'fc2\.weight .* 16 entries' "others quantized"

# Optimal is never worse than Lloyd (SQNR column).
sq() { awk -v t="$1" '$1 == t { print $7 }' "$T/.err"; }
run quantize --optimal "$T/l.spzm" -o "$T/opt.spzm"
expect_rc 0 "--optimal"
expect_err '^fc\.weight +4 optimal ' "optimal is reported as the init"
o=$(sq fc.weight)
for i in linear density random kmeans++; do
	run quantize --init $i "$T/l.spzm" -o "$T/ll.spzm"
	l=$(sq fc.weight)
	check "optimal SQNR $o >= $i SQNR $l" awk -v o="$o" -v l="$l" 'BEGIN { exit !(o != "" && l != "" && o + 0 >= l - 1e-9) }'
done

# Determinism: same seed, same bytes; another seed, another codebook.
"$SPZ" quantize --init random --seed 5 --max-iter 1 "$T/m.spzm" -o "$T/s1.spzm" 2>/dev/null
"$SPZ" quantize --init random --seed 5 --max-iter 1 "$T/m.spzm" -o "$T/s2.spzm" 2>/dev/null
"$SPZ" quantize --init random --seed 6 --max-iter 1 "$T/m.spzm" -o "$T/s3.spzm" 2>/dev/null
check "same seed, same output" cmp "$T/s1.spzm" "$T/s2.spzm"
check "other seed, other output" sh -c "! cmp -s '$T/s1.spzm' '$T/s3.spzm'"

# Re-quantizing: refused unless asked; more bits than values is exact.
run quantize "$T/q.spzm" -o "$T/qq.spzm"
expect_rc 1 "already quantized is refused"
expect_err "^spz: tensor 'fc1\.weight' is already quantized \(4 bits\); pass --requantize" "refusal says why"
expect_one_line "already quantized: one line"
expect_no_file "$T/qq.spzm" "already quantized: no output"
"$SPZ" quantize --bits 2 "$T/m.spzm" -o "$T/q2b.spzm" 2>/dev/null
run quantize --requantize --bits 4 "$T/q2b.spzm" -o "$T/qq.spzm"
expect_rc 0 "--requantize"
expect_err '^fc1\.weight +4 linear +0 exact +4 +inf$' "requantizing to more bits keeps the 4 values exactly"

# Bad command lines: exit 2, one line, nothing written.
bad() {
	name=$1; shift
	run quantize "$T/m.spzm" -o "$T/bad.spzm" --json="$T/bad.json" "$@"
	expect_rc 2 "$name: exit 2"
	expect_one_line "$name: one line"
	expect_err "$pat" "$name: message"
	expect_no_file "$T/bad.spzm" "$name: no model written"
	expect_no_file "$T/bad.json" "$name: no report written"
}
pat="--bits takes 1\.\.8, not '0'"; bad "bits 0" --bits 0
pat="--bits takes 1\.\.8, not '9'"; bad "bits 9" --bits 9
pat="--bits takes 1\.\.8, not 'x'"; bad "bits x" --bits x
pat="unknown --init 'foo'"; bad "unknown init" --init foo
pat="--max-iter takes"; bad "negative max-iter" --max-iter -1
pat="--rule takes GLOB=BITS, not 'fc1'"; bad "rule without =" --rule fc1
pat="--rule 'fc1\*=9': bits must be 1\.\.8"; bad "rule bits" --rule 'fc1*=9'
pat="--rule 'nope\*=3' matches no selected tensor"; bad "rule matching nothing" --rule 'nope*=3'
pat="--rule 'fc1\.bias=3' matches no selected tensor"; bad "rule on an unselected tensor" --rule 'fc1.bias=3'
pat="--include 'nope' matches no tensor of model 'mlp'"; bad "include matching nothing" --include nope
pat="bad glob '\[abc' for --include"; bad "bad glob" --include '[abc'
pat="--rule '\[x=2': bad glob '\[x'"; bad "bad rule glob" --rule '[x=2'
pat="no tensor selected in model 'mlp'"; bad "nothing selected" --exclude '*'
pat="^spz quantize: --exclude '\\\\\\[\\*' matches no tensor of model 'mlp'\$"; bad "escaped [ is a valid glob" --exclude '\[*'
pat="unknown option '--frobnicate'"; bad "unknown option" --frobnicate
pat="expected at most one input file"; bad "two inputs" "$T/l.spzm"
pat="option '--bits' needs a value"; bad "missing value" --bits
run quantize "$T/m.spzm" --json
expect_rc 2 "--json - with the model on stdout"
expect_one_line "--json - conflict: one line"
expect_err "--json on standard output needs the model in a file" "--json - conflict: message"
run quantize "$T/m.spzm" -o "$T/same.spzm" --json="$T/same.spzm"
expect_rc 2 "--json and -o the same file"
expect_err "^spz quantize: --json and -o name the same file$" "same file: message"
expect_no_file "$T/same.spzm" "same file: nothing written"
mkdir -p "$T/sub"
run quantize "$T/m.spzm" -o "$T/same.spzm" --json="$T/sub/../same.spzm"
expect_rc 2 "--json and -o the same file through .."
expect_err "^spz quantize: --json and -o name the same file$" "same file through ..: message"
expect_no_file "$T/same.spzm" "same file through ..: nothing written"

# Bad data: exit 1, one line, nothing written.
run quantize "$T/missing.spzm" -o "$T/bad.spzm"
expect_rc 1 "missing input"
expect_one_line "missing input: one line"
expect_no_file "$T/bad.spzm" "missing input: no output"
printf '\000\000\200\077\000\000\300\177' >"$T/nan.bin"
cat >"$T/nan.json" <<JSON
{"format": "spz-model", "version": 1, "name": "n", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [1, 2],
   "external_data": {"location": "nan.bin", "offset": 0, "length": 8}}],
 "history": []}
JSON
run quantize "$T/nan.json" -o "$T/bad.spzm" --json="$T/bad.json"
expect_rc 1 "NaN weight"
expect_err "tensor 'w': NaN value at index 1" "NaN message names tensor and index"
expect_one_line "NaN: one line"
expect_no_file "$T/bad.spzm" "NaN: no output"
expect_no_file "$T/bad.json" "NaN: no report"
run quantize "$T/m.spzm" -o "$T/nodir/x.spzm"
expect_rc 1 "unwritable output"
expect_one_line "unwritable output: one line"

# A FIFO (like /dev/null) is written in place, not renamed over.
mkfifo "$T/fifo"
timeout 20 cat "$T/fifo" >"$T/fromfifo" &
run quantize "$T/m.spzm" -o "$T/fifo" --to spzm
wait
expect_rc 0 "output to a FIFO"
check "the FIFO is still a FIFO" test -p "$T/fifo"
check "the model went through it" cmp "$T/fromfifo" "$T/q.spzm"

# Wide ranges: exact sums keep 1, 2, 3, 4 beside -3e8 and -1e18 (double
# prefix sums lost them: an unused centroid, MSE 1 or 1.2 instead of 0.2).
for big in -3e8 -1e18; do
	cat >"$T/wide.json" <<JSON
{"format": "spz-model", "version": 1, "name": "n", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [1, 5], "data": [$big, 1, 2, 3, 4]}],
 "history": []}
JSON
	for how in "" --optimal; do
		run quantize --bits 2 $how "$T/wide.json" -o "$T/wide.spzm" --json
		expect_rc 0 "[$big, 1, 2, 3, 4] $how"
		expect_out '"mse":[[:space:]]*0\.2,' "[$big, 1, 2, 3, 4] $how: MSE 0.2"
		expect_out '"converged":[[:space:]]*true' "[$big, 1, 2, 3, 4] $how: converged"
		expect_out '"codebook":[[:space:]]*\[0, -[0-9.e+]*, 1\.5, 3\.5\]' "[$big, 1, 2, 3, 4] $how: codebook"
	done
done

# Lloyd converges by default; a run stopped by --max-iter says so, with a
# hint, on stderr (not with -q) and in --json.
"$SPZ" gen layer --rows 300 --cols 784 --density 0.08 --seed 4 -o "$T/fc1.spzm"
run quantize "$T/fc1.spzm" -o "$T/c.spzm" --json="$T/c.json"
expect_rc 0 "the default converges"
expect_err '^fc\.weight +4 linear +[0-9]+ yes ' "converged by default"
check "no hint when it converged" sh -c "! grep -q 'max-iter' '$T/.err'"
check "--json: max_iter 100000" grep -Eq '"max_iter":[[:space:]]*100000,' "$T/c.json"
check "--json: not stopped at the cap" grep -Eq '"stopped_at_max_iter":[[:space:]]*false' "$T/c.json"
run quantize "$T/fc1.spzm" -o "$T/c.spzm" --max-iter 3 --json="$T/c.json"
expect_rc 0 "stopped at the cap: still a success"
expect_err '^fc\.weight +4 linear +3 no ' "the table says not converged"
hint=$(printf '%s\n' "$err" | sed -n '/^spz quantize:/,$p' | tr '\n' ' ' | sed 's/  */ /g; s/ $//')
check "the hint, wrapped at 80 columns" test "$hint" = "spz quantize: 'fc.weight' stopped at --max-iter 3 before Lloyd converged; raise --max-iter (default 100000) or use --optimal"
check "the hint fits 80 columns" sh -c "! printf '%s\n' \"\$1\" | awk 'length(\$0) > 80' | grep -q ." _ "$err"
check "--json: stopped at the cap" grep -Eq '"stopped_at_max_iter":[[:space:]]*true' "$T/c.json"
check "--json: converged false" grep -Eq '"converged":[[:space:]]*false' "$T/c.json"
run quantize "$T/fc1.spzm" -o "$T/c.spzm" --max-iter 3 -q
check "-q: no hint" test -z "$err"
run quantize "$T/fc1.spzm" -o "$T/c.spzm" --max-iter 3 --optimal
check "--optimal converges whatever the cap" sh -c "! grep -q 'stopped at' '$T/.err'"

# -v: the model read and written, each tensor's cost, the closing line.
run quantize -v "$T/m.spzm" -o "$T/v.spzm"
# Notes wrap at 80 columns: join the continuation lines (indented) back.
err=$(printf '%s\n' "$err" | awk '/^  / { sub(/^ +/, " "); printf "%s", $0; next } NR > 1 { print "" } { printf "%s", $0 } END { print "" }')
expect_err "^spz quantize: read '.*m\.spzm' \(6 tensors, [0-9]+ parameters, [0-9]+ bytes\) in [0-9.]+ s$" "-v: the model read"
expect_err "^spz quantize: wrote '.*v\.spzm' \(6 tensors, [0-9]+ parameters, [0-9]+ bytes\) in [0-9.]+ s$" "-v: the model written"
expect_err "^spz quantize: 'fc2\.weight': 1536 non-zeros, [0-9]+ Lloyd steps in [0-9.]+ s$" "-v: a tensor's cost"
run quantize "$T/m.spzm" -o "$T/v.spzm"
check "without -v: none of it" sh -c "! grep -q '^spz quantize:' '$T/.err'"

run quantize --help
expect_rc 0 "quantize --help"
expect_out '^usage: spz quantize' "help shows usage"
run quantize --bits 1 "$T/m.spzm" -o "$T/q1.spzm"
expect_rc 0 "quantize to 1 bit"
run info "$T/q1.spzm"
expect_out 'fc1\.weight .* 2 entries, 1 bit$' "info says '1 bit', not '1 bits'"
done_testing
