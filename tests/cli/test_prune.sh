#!/bin/sh
# test_prune.sh - spz prune: every mode and flag, the report, the record
# and history, and every error (exit code, one line, no file left).
. "$(dirname "$0")/lib.sh"

"$SPZ" gen mlp --dims 784,300,100,10 --seed 1 -o "$T/mlp.spzm"
"$SPZ" gen mlp --dims 10,6,3 --seed 2 -o "$T/odd.spzm"

# A weight's non-zeros as `spz info --json` reports them.
nonzeros() {
	"$SPZ" info --json "$1" | tr -d ' \t\n' |
		sed 's/.*"name":"'"$2"'","dims":[^}]*"nonzeros":\([0-9]*\).*/\1/'
}

run prune --help; expect_rc 0 "--help"; expect_out '^usage: spz prune' "--help shows usage"

# ---- magnitude, per layer with Deep Compression's LeNet-300-100 rates ----
run prune "$T/mlp.spzm" --rule 'fc1.weight=0.92' --rule 'fc2.weight=0.91' \
	--rule 'fc3.weight=0.74' -o "$T/dc.spzm" --json="$T/dc.json"
expect_rc 0 "rules: LeNet-300-100 rates"
expect_err '^fc1\.weight +300x784 +0\.92 +1\.0000->0\.0800 ' "table row fc1 (target, densities)"
expect_err '^total +266200 weights +1\.0000->0\.0818' "table total"
check "fc1 keeps exactly 8% (18816)" test "$(nonzeros "$T/dc.spzm" fc1.weight)" = 18816
check "fc2 keeps exactly 9% (2700)" test "$(nonzeros "$T/dc.spzm" fc2.weight)" = 2700
check "fc3 keeps exactly 26% (260)" test "$(nonzeros "$T/dc.spzm" fc3.weight)" = 260
check "biases untouched (no record)" sh -c "! '$SPZ' info --json '$T/dc.spzm' | tr -d ' \t\n' | grep -q '\"name\":\"fc1.bias\"[^}]*\"pruning\"'"
check "report has the keys" grep -q '"nonzeros_before":	235200' "$T/dc.json"
check "report total" sh -c "tr -d ' \t\n' < '$T/dc.json' | grep -q '\"total\":{\"elements\":266200,\"nonzeros_before\":266200,\"nonzeros_after\":21776}'"
check "report threshold is a short float" grep -Eq '"threshold":	0\.[0-9]{1,9},?$' "$T/dc.json"
run info --wide "$T/dc.spzm"
expect_out 'pruned: magnitude \(layer\) target sparsity 0\.92, threshold 0\.0885128[0-9]*, density 0\.0800' "info shows the record"
expect_out 'prune \(spz [0-9.]+\) mode=magnitude scope=layer rules=fc1\.weight=0\.92, fc2\.weight=0\.91, fc3\.weight=0\.74 tensors=fc1\.weight, fc2\.weight, fc3\.weight' "history step with every parameter"

run prune "$T/mlp.spzm" --rule 'fc1.weight=0.92' --rule 'fc2.weight=0.91' \
	--rule 'fc3.weight=0.74' -o "$T/dc2.spzm"
check "deterministic: same bytes twice" cmp "$T/dc.spzm" "$T/dc2.spzm"

run prune "$T/mlp.spzm" --sparsity 0.5 --rule 'fc*.weight=0.9' --rule 'fc3.*=0.2' -o "$T/r.spzm"
expect_rc 0 "--sparsity with rules"
check "later rule wins (fc3 at 0.2)" test "$(nonzeros "$T/r.spzm" fc3.weight)" = 800
check "earlier rule (fc2 at 0.9)" test "$(nonzeros "$T/r.spzm" fc2.weight)" = 3000

run prune "$T/mlp.spzm" --sparsity 0.75 -o "$T/s.json"
expect_rc 0 "--sparsity to a JSON file"
check "JSON output by extension" grep -q '"format": "spz-model"' "$T/s.json"
check "every weight at 25%" test "$(nonzeros "$T/s.json" fc2.weight)" = 7500

# ---- global scope -------------------------------------------------------
run prune "$T/mlp.spzm" --sparsity 0.9 --scope global -o "$T/g.spzm" --json="$T/g.json"
expect_rc 0 "--scope global"
check "global total is round(0.1 * 266200)" sh -c "tr -d ' \t\n' < '$T/g.json' | grep -q '\"nonzeros_after\":26620}'"
run info "$T/g.spzm"
expect_out 'pruned: magnitude \(global\) target sparsity 0\.9' "global record"
check "global differs from per layer" test "$(nonzeros "$T/g.spzm" fc3.weight)" != 100

# ---- threshold ------------------------------------------------------------
run prune "$T/mlp.spzm" --threshold 0.1 -o "$T/t.spzm" --json="$T/t.json"
expect_rc 0 "--threshold"
expect_err '^fc1\.weight +300x784 +- +1\.0000->0\.0480  0\.1$' "threshold row"
run info "$T/t.spzm"; expect_out 'pruned: threshold, threshold 0\.1, density' "threshold record"
check "threshold report target is null" grep -q '"target":	null' "$T/t.json"

# ---- N:M --------------------------------------------------------------------
run prune "$T/mlp.spzm" --nm 2:4 -o "$T/nm.spzm"
expect_rc 0 "--nm 2:4"
expect_err '^fc1\.weight +300x784 +2:4 +1\.0000->0\.5000' "N:M row"
run info "$T/nm.spzm"
expect_out 'pruned: nm 2:4, threshold' "N:M record"
expect_out 'satisfies 2:4 along dim 1' "info says the pattern holds"
run info --json "$T/nm.spzm"; expect_out '"dim":	1' "info --json has the pattern"
run info "$T/mlp.spzm"
if printf '%s\n' "$out" | grep -q satisfies; then notok "dense model satisfies nothing"; else ok "dense model satisfies nothing"; fi
# [3, 2]: no whole group of 4 along dim 1, so no pattern is claimed.
"$SPZ" gen mlp --dims 2,3 -o "$T/short.spzm"
run info "$T/short.spzm"
if printf '%s\n' "$out" | grep -q satisfies; then notok "dim shorter than M satisfies nothing"; else ok "dim shorter than M satisfies nothing"; fi
run prune "$T/mlp.spzm" --nm 1:4 -o "$T/nm14.spzm"
run info "$T/nm14.spzm"; expect_out 'satisfies 1:4 along dim 1' "1:4 pattern reported"

run prune "$T/odd.spzm" --nm 2:4 -o "$T/odd-out.spzm"
expect_rc 1 "N:M dim not a multiple of M"
expect_err "tensor 'fc1\.weight': its reduction dimension \(dim 1, size 10\) is not a multiple of 4; say what to do with the last group \(--nm-partial keep\|prune\)" "N:M refusal says why"
expect_one_line "N:M refusal: one line"; expect_no_file "$T/odd-out.spzm" "N:M refusal: no file"
run prune "$T/odd.spzm" --nm 2:4 --nm-partial keep -o "$T/odd-k.spzm"
expect_rc 0 "--nm-partial keep"
check "keep: fc1 keeps 2 per group + the tail pair (6*6 = 36)" test "$(nonzeros "$T/odd-k.spzm" fc1.weight)" = 36
run prune "$T/odd.spzm" --nm 1:4 --nm-partial prune -o "$T/odd-p.spzm"
expect_rc 0 "--nm-partial prune"
check "prune: fc1 keeps 1 per group, tail too (6*3 = 18)" test "$(nonzeros "$T/odd-p.spzm" fc1.weight)" = 18
run info "$T/odd-p.spzm"; expect_out 'satisfies 1:4 along dim 1' "partial prune still satisfies 1:4"

# ---- selection ------------------------------------------------------------
run prune "$T/mlp.spzm" --sparsity 0.5 --include 'fc1.*' -o "$T/inc.spzm"
expect_rc 0 "--include"
expect_err '^fc1\.bias ' "--include replaces the default set (bias taken)"
if printf '%s\n' "$err" | grep -q '^fc2'; then notok "--include leaves fc2 alone"; else ok "--include leaves fc2 alone"; fi
run prune "$T/mlp.spzm" --sparsity 0.5 --exclude 'fc3.*' --exclude 'fc1.*' -o "$T/exc.spzm"
expect_rc 0 "--exclude"
check "--exclude keeps fc1 dense" test "$(nonzeros "$T/exc.spzm" fc1.weight)" = 235200
check "--exclude prunes fc2" test "$(nonzeros "$T/exc.spzm" fc2.weight)" = 15000

# ---- config file ------------------------------------------------------------
cat > "$T/cfg.json" <<'EOF'
{"rules": [{"match": "fc1.weight", "sparsity": 0.92},
           {"match": "fc2.weight", "sparsity": 0.91},
           {"match": "fc3.weight", "sparsity": 0.74}]}
EOF
run prune "$T/mlp.spzm" --config "$T/cfg.json" -o "$T/cfg.spzm"
expect_rc 0 "--config"
check "--config gives the same model as the rules" cmp "$T/cfg.spzm" "$T/dc.spzm"
run prune "$T/mlp.spzm" --config "$T/cfg.json" --rule 'fc3.weight=0.5' -o "$T/cfg2.spzm"
check "a later --rule wins over the config" test "$(nonzeros "$T/cfg2.spzm" fc3.weight)" = 500
run prune "$T/mlp.spzm" --rule 'fc3.weight=0.5' --config "$T/cfg.json" -o "$T/cfg3.spzm"
check "a later config wins over a --rule" test "$(nonzeros "$T/cfg3.spzm" fc3.weight)" = 260

bad_config() { # NAME CONTENT PATTERN
	printf '%s' "$2" > "$T/bad.json"
	run prune "$T/mlp.spzm" --config "$T/bad.json" -o "$T/bad.spzm"
	expect_rc 1 "config $1: exit 1"; expect_err "$3" "config $1: message"
	expect_one_line "config $1: one line"; expect_no_file "$T/bad.spzm" "config $1: no file"
}
bad_config "not JSON" '{"rules": [' "'.*bad\.json': not JSON \(syntax error at line 1\)"
bad_config "unknown key" '{"rules": [], "sparsity": 0.5}' 'unknown key "sparsity"'
bad_config "rule shape" '{"rules": [{"match": "fc1.weight"}]}' 'rule 0 must be \{"match": GLOB, "sparsity": S\}'
bad_config "sparsity range" '{"rules": [{"match": "fc1.weight", "sparsity": 1}]}' 'rule 0: sparsity must be in \[0, 1\)'
bad_config "bad glob" '{"rules": [{"match": "fc[1", "sparsity": 0.5}]}' "rule 0: bad glob 'fc\[1'"
# A rule naming a tensor the model does not have is a usage error, as on
# the command line.
printf '%s' '{"rules": [{"match": "fc9.*", "sparsity": 0.5}]}' > "$T/miss.json"
run prune "$T/mlp.spzm" --config "$T/miss.json" -o "$T/bad.spzm"
expect_rc 2 "config glob matches nothing: exit 2"
expect_err "^spz prune: '.*miss\.json': rule 'fc9\.\*=0\.5' matches no selected tensor$" "config glob matches nothing: message"
expect_one_line "config glob matches nothing: one line"; expect_no_file "$T/bad.spzm" "config glob matches nothing: no file"
printf '%s' '{"rules": []}' > "$T/empty.json"
run prune "$T/mlp.spzm" --config "$T/empty.json" -o "$T/bad.spzm"
expect_rc 2 "config without rules: exit 2"
expect_err "no tensor selected in model 'mlp' \(no --sparsity and no rule\)" "config without rules: message"
expect_one_line "config without rules: one line"; expect_no_file "$T/bad.spzm" "config without rules: no file"
run prune "$T/mlp.spzm" --config "$T/nope.json" -o "$T/bad.spzm"
expect_rc 1 "missing config"; expect_err "nope\.json" "missing config named"; expect_no_file "$T/bad.spzm" "missing config: no file"

# ---- pipes, formats, --json placement ---------------------------------------
"$SPZ" prune --sparsity 0.5 < "$T/mlp.spzm" 2>/dev/null | "$SPZ" info - > "$T/pipe.txt"
check "stdin to stdout (binary) in a pipe" grep -q 'pruned: magnitude (layer) target sparsity 0.5' "$T/pipe.txt"
run_in "$T/mlp.spzm" prune - --sparsity 0.5 --to json
expect_rc 0 "--to json to stdout"; expect_out '"format": "spz-model"' "JSON on stdout"
run prune "$T/mlp.spzm" --sparsity 0.5 -o "$T/j.spzm" --json
expect_rc 0 "--json - with the model in a file"; expect_out '"nonzeros_after":	117600' "report on stdout"

# ---- usage errors: exit 2, one line, no file --------------------------------
usage() { # NAME ARGS...
	name=$1; shift
	run prune "$T/mlp.spzm" "$@" -o "$T/u.spzm"
	expect_rc 2 "$name: exit 2"; expect_one_line "$name: one line"
	expect_no_file "$T/u.spzm" "$name: no file"
}
usage "S = 1" --sparsity 1;          expect_err "--sparsity takes a number in \[0, 1\), not '1'" "S = 1 message"
usage "S < 0" --sparsity -0.1
usage "S not a number" --sparsity abc
usage "N = M" --nm 4:4;              expect_err "--nm takes N:M with 1 <= N < M <= 16 \(e\.g\. 2:4\), not '4:4'" "N = M message"
usage "M > 16" --nm 2:17
usage "N = 0" --nm 0:4
usage "N:M not numbers" --nm a:b
usage "N:M without colon" --nm 2
usage "N:M with two colons" --nm 2:4:8
usage "--sparsity with --nm" --sparsity 0.5 --nm 2:4; expect_err "exclude each other" "two modes message"
usage "--threshold with --sparsity" --threshold 0.1 --sparsity 0.5
usage "negative threshold" --threshold -1
usage "nothing to do"; expect_err "nothing to do" "nothing to do message"
usage "rule with a bad glob" --rule 'fc[1=0.5'; expect_err "--rule 'fc\[1=0\.5': bad glob" "bad glob message"
usage "rule with a bad value" --rule 'fc1.weight=1.5'; expect_err "sparsity must be a number in \[0, 1\)" "bad rule value message"
usage "rule without =" --rule 'fc1.weight'
usage "rule with an empty glob" --rule '=0.5'
usage "rule with --nm" --nm 2:4 --rule 'fc1.weight=0.5'; expect_err "go with --sparsity, not --nm" "rule with nm message"
usage "--scope without --sparsity" --threshold 0.1 --scope global
usage "bad --scope" --sparsity 0.5 --scope everything
usage "--scope global with rules" --sparsity 0.5 --scope global --rule 'fc1.weight=0.9'
usage "--nm-partial without --nm" --sparsity 0.5 --nm-partial keep
usage "bad --nm-partial" --nm 2:4 --nm-partial drop
usage "--include with a bad glob" --sparsity 0.5 --include 'fc[1'; expect_err "bad glob 'fc\[1' for --include" "bad --include glob message"
usage "unknown option" --sparsity 0.5 --frobnicate
usage "--json and -o the same file" --sparsity 0.5 --json="$T/u.spzm"
# The same file spelled two ways: the report's rename would replace the model.
usage "--json and -o the same file, spelled apart" --sparsity 0.5 --json="$T/./u.spzm"
expect_err "^spz prune: --json and -o name the same file$" "same file spelled apart: message"
usage "bad --to" --sparsity 0.5 --to yaml
run prune "$T/mlp.spzm" "$T/mlp.spzm" --sparsity 0.5 -o "$T/u.spzm"
expect_rc 2 "two inputs"; expect_no_file "$T/u.spzm" "two inputs: no file"
run prune "$T/mlp.spzm" --sparsity 0.5 --to json --json
expect_rc 2 "--json - with the model on stdout"; expect_err "--json on standard output needs the model in a file" "--json - message"; expect_one_line "--json - : one line"

# A reader that goes away: the write fails, the report's temporary goes too.
"$SPZ" prune "$T/mlp.spzm" --sparsity 0.5 --json="$T/gone.json" 2>"$T/.err" | true
err=$(cat "$T/.err")
expect_err "^spz: cannot write '<stdout>': output closed early$" "closed pipe: says so"
expect_one_line "closed pipe: one line"; expect_no_file "$T/gone.json" "closed pipe: no report left"

# ---- the command line names tensors the model lacks: exit 2 ----------------
absent() { # NAME PATTERN ARGS...
	name=$1; pat=$2; shift 2
	run prune "$T/mlp.spzm" "$@" -o "$T/d.spzm" --json="$T/d.json"
	expect_rc 2 "$name: exit 2"; expect_err "$pat" "$name: message"
	expect_one_line "$name: one line"; expect_no_file "$T/d.spzm" "$name: no model"
	expect_no_file "$T/d.json" "$name: no report"
}
absent "rule matches nothing" "^spz prune: --rule 'fc9\.\*=0\.5' matches no selected tensor$" --rule 'fc9.*=0.5'
absent "rule matches only unselected" "--rule 'fc1\.bias=0\.5' matches no selected tensor" --sparsity 0.5 --rule 'fc1.bias=0.5'
absent "--include matches nothing" "--include 'fc1\.weights' matches no tensor of model 'mlp'" --sparsity 0.5 --include 'fc1.weights'
absent "--exclude matches nothing" "--exclude 'fc4\*' matches no tensor of model 'mlp'" --sparsity 0.5 --exclude 'fc4*'
absent "no tensor selected" "no tensor selected in model 'mlp'" --sparsity 0.5 --exclude '*'

# ---- data errors: exit 1, one line, no file ---------------------------------
data() { # NAME PATTERN ARGS...
	name=$1; pat=$2; shift 2
	run prune "$@" -o "$T/d.spzm" --json="$T/d.json"
	expect_rc 1 "$name: exit 1"; expect_err "$pat" "$name: message"
	expect_one_line "$name: one line"; expect_no_file "$T/d.spzm" "$name: no model"
	expect_no_file "$T/d.json" "$name: no report"
}
data "N:M on a bias" "tensor 'fc1\.bias' is not the weight of a Gemm, MatMul or Conv node" "$T/mlp.spzm" --nm 2:4 --include 'fc1.bias'
data "missing input" "nope\.spzm" "$T/nope.spzm" --sparsity 0.5
run prune "$T/mlp.spzm" --sparsity 0.5 -o "$T/no/dir/x.spzm" --json="$T/w.json"
expect_rc 1 "unwritable output"; expect_err "cannot write '.*/no/dir/x\.spzm'" "unwritable output: message"
expect_one_line "unwritable output: one line"; expect_no_file "$T/w.json" "unwritable output: no report left"
run prune "$T/mlp.spzm" --sparsity 0.5 -o "$T/w.spzm" --json="$T/no/dir/w.json"
expect_rc 1 "unwritable report"; expect_one_line "unwritable report: one line"
expect_no_file "$T/w.spzm" "unwritable report: no model left"

cat > "$T/q.json" <<'EOF'
{"format": "spz-model", "version": 1, "name": "q", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "Gemm", "name": "fc", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {"transB": 1}}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [2, 4], "bits": 2,
                   "codebook": [0, 0.5, -0.5], "codes": [0, 1, 2, 0, 1, 0, 0, 2]}],
 "history": []}
EOF
data "quantized input" "tensor 'w' is quantized: pruning after weight sharing would change its shared values and zero codes; prune before quantize" "$T/q.json" --sparsity 0.5
run info "$T/q.json"; expect_out 'satisfies 2:4 along dim 1' "info: N:M through a codebook"

# --threshold T is read as the nearest double, then compared exactly: a T
# that differs from 0.5 by less than half a double unit is 0.5 itself.
cat >"$T/half.json" <<JSON
{"format": "spz-model", "version": 1, "name": "h", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "MatMul", "name": "mm", "inputs": ["x", "w"], "outputs": ["y"], "attributes": {}}],
 "initializers": [{"name": "w", "data_type": 1, "dims": [1, 4], "data": [0.5, 0.25, -0.5, 1]}],
 "history": []}
JSON
run prune --threshold 0.50000000000000000001 "$T/half.json" -o "$T/half1.json"
expect_rc 0 "--threshold just above 0.5 in decimal"
run info "$T/half1.json"
expect_out 'w +1x4 +float32 +[a-z]+ +3 ' "T rounds to the double 0.5: the 0.5 weights stay"
run prune --threshold 0.5000000000000001 "$T/half.json" -o "$T/half2.json"
run info "$T/half2.json"
expect_out 'w +1x4 +float32 +[a-z]+ +1 ' "T one double above 0.5: the 0.5 weights go"

done_testing
