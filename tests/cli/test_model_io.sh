#!/bin/sh
# test_model_io.sh - spz gen, info and convert on good input: outputs,
# formats, pipelines and determinism.
. "$(dirname "$0")/lib.sh"

# gen mlp: the graph the issue specifies.
run gen mlp --dims 784,300,100,10 --seed 1 -o "$T/mlp.spzm"
expect_rc 0 "gen mlp"
check "gen mlp writes .spzm" sh -c "head -c 8 '$T/mlp.spzm' | od -c | grep -q 'S   P   Z   M'"
run info "$T/mlp.spzm"
expect_rc 0 "info text"
expect_out "^model 'mlp'" "info names the model"
expect_out '^nodes \(5\):' "info counts the nodes"
expect_out '^  0 +Gemm +fc1 +input, fc1.weight, fc1.bias -> fc1.out  transB=1$' "info: first Gemm with its inputs and transB"
expect_out '^  1 +Relu +relu1 ' "info: Relu between layers"
expect_out '^  4 +Gemm +fc3 +relu2.out, fc3.weight, fc3.bias -> output' "info: last Gemm feeds the output"
expect_out '^  fc1.weight +300x784 +float32 +weight +235200 +1.0000  -$' "info: weight name, dims, dtype, nonzeros, density, no codebook"
expect_out '^  fc1.bias +300 +float32 +bias +0 +0.0000  -$' "info: zero bias"
expect_out '^history \(1\):' "info: history"
expect_out '^  1. gen \(spz [0-9.]+\) kind=mlp dims=784,300,100,10 seed=1$' "info: the gen step and its parameters"

run info --json "$T/mlp.spzm"
expect_rc 0 "info --json"
expect_out '^\{$' "info --json prints one JSON object"
expect_out '"kind":[[:space:]]*"model"' "info --json kind"
expect_out '"nodes":[[:space:]]*\[' "info --json nodes"
expect_out '"tensors":[[:space:]]*\[' "info --json tensors"
expect_out '"history":[[:space:]]*\[' "info --json history"
for k in name dims elements nonzeros density; do
	c=$(printf '%s\n' "$out" | grep -c "^[[:space:]]*\"$k\":")
	# 6 tensors; "name" also on 5 nodes and the model, "dims" also in
	# the gen step's params.
	case $k in name) want=12 ;; dims) want=7 ;; *) want=6 ;; esac
	if [ "$c" -eq "$want" ]; then ok "info --json: \"$k\" on every tensor"; else notok "info --json: \"$k\" on every tensor" "found $c, wanted $want"; fi
done
c=$(printf '%s\n' "$out" | grep -c '"codebook":[[:space:]]*null')
if [ "$c" -eq 6 ]; then ok "info --json: codebook null on unquantized tensors"; else notok "codebook null" "found $c"; fi
expect_out '"elements":[[:space:]]*235200,' "info --json elements"
expect_out '"density":[[:space:]]*1,' "info --json density"
expect_out '"op":[[:space:]]*"Relu"' "info --json node ops"

# convert both ways, byte-identical round trips.
run convert "$T/mlp.spzm" -o "$T/mlp.json"
expect_rc 0 "convert spzm -> json"
check "json output is the spz-model format" grep -q '"format": "spz-model"' "$T/mlp.json"
run convert "$T/mlp.json" -o "$T/mlp2.spzm"
expect_rc 0 "convert json -> spzm"
check "spzm -> json -> spzm is byte-identical" cmp "$T/mlp.spzm" "$T/mlp2.spzm"
run convert "$T/mlp2.spzm" -o "$T/mlp2.json"
check "json -> spzm -> json is byte-identical" cmp "$T/mlp.json" "$T/mlp2.json"
run convert "$T/mlp.json" --to json -o "$T/mlp.out"
expect_rc 0 "--to overrides the extension"
check "--to json writes JSON" cmp "$T/mlp.json" "$T/mlp.out"
run convert "$T/mlp.json" -o "$T/mlp.bin"
expect_rc 2 "an unknown extension without --to is a usage error"
expect_err "cannot tell the format of '.*mlp.bin'" "the message names the output"
expect_no_file "$T/mlp.bin" "nothing written on a usage error"
run convert "$T/mlp.json" -o -
expect_rc 0 "-o - defaults to binary, like every command (it demanded --to)"
check "-o - wrote the binary model" cmp "$T/.out" "$T/mlp.spzm"
if command -v script >/dev/null 2>&1; then
	# On a terminal the binary default is refused (usage error, exit 2).
	script -qec "'$SPZ' convert '$T/mlp.json' -o -" /dev/null >"$T/tty.out" 2>&1
	check "-o - on a terminal: exit 2" test $? -eq 2
	check "-o - on a terminal: refused" grep -q "refusing to write a binary model to a terminal" "$T/tty.out"
fi
run convert "$T/mlp.json" --to yaml -o "$T/x.json"
expect_rc 2 "--to takes json or spzm"; expect_err "not 'yaml'" "bad --to is named"
run convert "$T/mlp.json"
expect_rc 2 "convert without -o"
run convert --frob "$T/mlp.json" -o "$T/x.json"
expect_rc 2 "unknown option"; expect_err "unknown option '--frob'" "unknown option is named"; expect_one_line "unknown option: one line"

# Pipelines: stdin and stdout.
"$SPZ" convert "$T/mlp.json" --to spzm -o - | "$SPZ" info - >"$T/pipe.out" 2>"$T/pipe.err"
check "convert -o - | info - works" grep -q "^model 'mlp'" "$T/pipe.out"
check "the pipeline says nothing on stderr" test ! -s "$T/pipe.err"
"$SPZ" convert - --to json -o - <"$T/mlp.spzm" >"$T/stdin.json"
check "convert - --to json -o - from stdin" cmp "$T/stdin.json" "$T/mlp.json"
"$SPZ" gen mlp --dims 4,3 --seed 2 | "$SPZ" convert - -o "$T/piped.json"
check "gen to stdout defaults to binary" grep -q '"dims": "4,3"' "$T/piped.json"
run_in "$T/mlp.json" info -
expect_rc 0 "info - reads JSON from stdin"; expect_out "^model 'mlp'" "info - names the model"

# gen determinism: same seed, same bytes; another seed, other bytes.
run gen mlp --dims 20,10,5 --seed 7 -o "$T/a.spzm"
run gen mlp --dims 20,10,5 --seed 7 -o "$T/b.spzm"
check "same seed gives the same bytes" cmp "$T/a.spzm" "$T/b.spzm"
run gen mlp --dims 20,10,5 --seed 8 -o "$T/c.spzm"
check "another seed gives other bytes" sh -c "! cmp -s '$T/a.spzm' '$T/c.spzm'"
run gen mlp --dims 20,10,5 -o "$T/d.spzm"
run gen mlp --dims 20,10,5 --seed 1 -o "$T/e.spzm"
check "the default seed is 1" cmp "$T/d.spzm" "$T/e.spzm"
run gen mlp --dims 20,10,5 --seed 7 --to json -o "$T/a.json"
run gen mlp --dims 20,10,5 --seed 7 -o "$T/a2.json"
check "gen --to json equals gen -o x.json" cmp "$T/a.json" "$T/a2.json"

# gen layer: exactly round(D*R*C) non-zeros.
run gen layer --rows 50 --cols 40 --density 0.123 --seed 3 -o "$T/l.spzm"
expect_rc 0 "gen layer"
run info "$T/l.spzm"
expect_out '^  fc.weight +50x40 +float32 +weight +246 +0.1230  -$' "gen layer: round(0.123*2000) = 246 non-zeros"
run gen layer --rows 7 --cols 9 --density 1 -o "$T/full.spzm"
run info "$T/full.spzm"; expect_out '^  fc.weight +7x9 +float32 +weight +63 +1.0000 ' "density 1 is dense"
run gen layer --rows 7 --cols 9 --density 0 -o "$T/empty.spzm"
run info "$T/empty.spzm"; expect_out '^  fc.weight +7x9 +float32 +weight +0 +0.0000 ' "density 0 is empty"
run gen layer --rows 50 --cols 40 --density 0.123 --seed 3 -o "$T/l2.spzm"
check "gen layer is deterministic" cmp "$T/l.spzm" "$T/l2.spzm"
run gen layer --rows 50 --cols 40 --density 0.123 --seed 4 -o "$T/l3.spzm"
check "gen layer: another seed, other positions" sh -c "! cmp -s '$T/l.spzm' '$T/l3.spzm'"

# gen usage errors: exit 2, one line, nothing written.
for args in "mlp --dims 784 -o $T/u.spzm" "mlp --dims 784,x -o $T/u.spzm" \
	"mlp --dims 4,-3 -o $T/u.spzm" "mlp -o $T/u.spzm" \
	"layer --rows 3 -o $T/u.spzm" "layer --rows 3 --cols 3 --density 1.5 -o $T/u.spzm" \
	"layer --rows 0 --cols 3 -o $T/u.spzm" "cube -o $T/u.spzm" \
	"mlp --dims 4,3 --seed -1 -o $T/u.spzm" "mlp --dims 4,3 --rows 3 -o $T/u.spzm"; do
	# shellcheck disable=SC2086
	run gen $args
	expect_rc 2 "gen $args: usage error"
	expect_one_line "gen $args: one line"
	expect_no_file "$T/u.spzm" "gen $args: nothing written"
done

# Writing to a device writes in place (a rename would replace the node).
run gen mlp --dims 4,3 --to spzm -o /dev/null
expect_rc 0 "-o /dev/null works"
check "/dev/null is still a character device" test -c /dev/null
done_testing
