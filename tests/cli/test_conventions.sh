#!/bin/sh
# test_conventions.sh - the conventions of spz(1) "Common options", table-
# driven over every command: -q prints no more than errors, --json prints
# JSON on stdout, --json=FILE writes it to FILE (and a bare --json never
# takes the next word), a command that would read a model at a terminal
# says "no input" (exit 2), an unknown option suggests the closest one, an
# output named like another format is refused; text output fits 80
# columns without --wide; progress appears only on a terminal.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# A pseudo-terminal for stdin, stdout and stderr: script(1) from
# util-linux / bsdutils; -e passes the exit code on.
have_script=1
command -v script >/dev/null 2>&1 || have_script=0
check "script(1) is installed (bsdutils)" test $have_script = 1
in_pty() { # CMD...: runs in a pty, $rc and $out (all output, \r removed)
	script -qec "$*" /dev/null </dev/null >"$T/.pty" 2>&1
	rc=$?
	out=$(tr -d '\r' <"$T/.pty")
}

# Inputs: a small MLP, its pruned, quantized and packed forms, and labelled
# samples made by NumPy.
"$SPZ" gen mlp --dims 6,5,3 --seed 3 -o "$T/m.json" 2>/dev/null
"$SPZ" prune --sparsity 0.5 "$T/m.json" -o "$T/p.spzm" -q
"$SPZ" quantize --bits 3 "$T/p.spzm" -o "$T/q.spzm" -q
"$SPZ" pack "$T/q.spzm" --pes 2 -o "$T/q.eie" -q
"$PY" - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(5)
np.save(t + "/x.npy", rng.standard_normal((40, 6)).astype(np.float32))
np.save(t + "/y.npy", (np.arange(40) % 3).astype(np.int64))
PY
D="--x $T/x.npy --y $T/y.npy"

# name | arguments before the input | input | arguments after | a wrong
# output ("-" when the command writes no file named by its type)
cat >"$T/table" <<EOF
gen|mlp --dims 6,5,3 -o $T/o.json||||--to json -o $T/w.spzm
train|--dims 6,4,3 --epochs 1 $D -o $T/o.json||||--to spzm -o $T/w.json
info||$T/q.spzm|||-
convert|-o $T/o.spzm|$T/m.json|||--to json -o $T/w.onnx
prune|--sparsity 0.5 -o $T/o.spzm|$T/m.json|||--to json -o $T/w.spzm
finetune|--epochs 1 $D -o $T/o.json|$T/q.spzm|||--to json -o $T/w.spzm
quantize|-o $T/o.spzm|$T/p.spzm|||--to onnx -o $T/w.json
pack|--pes 2 -o $T/o.eie|$T/q.spzm|||-o $T/w.json
unpack|-o $T/o.spzm|$T/q.eie|||--to json -o $T/w.spzm
report||$T/q.eie|||-o $T/w.json
run|--random-input|$T/q.eie|||-
eval|$D|$T/q.eie|||-
sensitivity|$D --sparsities 0.5|$T/m.json|||-
EOF

while IFS='|' read -r cmd pre input post _ wrong; do
	# shellcheck disable=SC2086
	"$SPZ" $cmd $pre $input -q >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$T/.err" ]; then ok "$cmd -q: exit 0, nothing on stderr"
	else notok "$cmd -q: exit 0, nothing on stderr" "exit $rc" "$(cat "$T/.err")"; fi

	# --json: JSON on stdout (the model, when there is one, in -o's file)
	"$SPZ" $cmd $pre $input --json -q >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 0 ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/.out" 2>/dev/null
	then ok "$cmd --json: JSON on stdout"
	else notok "$cmd --json: JSON on stdout" "exit $rc" "$(head -c 300 "$T/.out")" "$(cat "$T/.err")"; fi

	rm -f "$T/j.json"
	"$SPZ" $cmd $pre $input --json="$T/j.json" -q >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 0 ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/j.json" 2>/dev/null &&
	   ! "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/.out" 2>/dev/null
	then ok "$cmd --json=FILE: JSON in FILE, not on stdout"
	else notok "$cmd --json=FILE: JSON in FILE, not on stdout" "exit $rc" "$(cat "$T/.err")"; fi

	# -v: a closing line of time, memory and exit status; -q wins.
	"$SPZ" $cmd $pre $input -v >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 0 ] && tail -1 "$T/.err" | grep -Eq "^spz $cmd: [0-9.]+ s wall, [0-9.]+ s CPU, peak memory [0-9.]+ MB, exit 0$"
	then ok "$cmd -v: the closing line"
	else notok "$cmd -v: the closing line" "exit $rc" "$(tail -3 "$T/.err")"; fi
	"$SPZ" $cmd $pre $input -v -q >"$T/.out" 2>"$T/.err"
	if [ ! -s "$T/.err" ]; then ok "$cmd -v -q: nothing on stderr"
	else notok "$cmd -v -q: nothing on stderr" "$(cat "$T/.err")"; fi

	# A misspelt option: the closest long option is suggested.
	"$SPZ" $cmd $pre $input --qiuet >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -q "^spz $cmd: unknown option '--qiuet'; did you mean --quiet?$" "$T/.err"
	then ok "$cmd: unknown option, did you mean --quiet?"
	else notok "$cmd: unknown option, did you mean --quiet?" "exit $rc" "$(cat "$T/.err")"; fi

	# An output named like another format than the one written.
	if [ "$wrong" != "-" ]; then
		"$SPZ" $cmd $pre $input $wrong >"$T/.out" 2>"$T/.err"
		rc=$?
		wfile=$(printf '%s\n' "$wrong" | sed 's/.*-o //')
		if [ $rc -eq 2 ] && grep -q "^spz $cmd: '.*' names .*" "$T/.err" && [ ! -e "$wfile" ]
		then ok "$cmd $wrong: refused, no file"
		else notok "$cmd $wrong: refused, no file" "exit $rc" "$(cat "$T/.err")"; fi
	fi

	# No input at a terminal: "no input", exit 2 (gen and train read none).
	if [ -n "$input" ] && [ $have_script = 1 ]; then
		# "-" for the input: the command would read the terminal.
		in_pty "'$SPZ' $cmd $pre -"
		if [ $rc -eq 2 ] && printf '%s\n' "$out" | grep -q "^spz $cmd: no input"
		then ok "$cmd at a terminal: no input, exit 2"
		else notok "$cmd at a terminal: no input, exit 2" "exit $rc" "$out"; fi
	fi
done <"$T/table"

# A bare --json never takes the next word: here 'x' stays an operand.
run prune --sparsity 0.5 -o "$T/o.spzm" --json "$T/m.json"
expect_rc 0 "--json then the input: the input is not a JSON path"
expect_out '"tensors"' "--json then the input: JSON on stdout"
run --version; expect_out '^spz [0-9]' "spz --version"
run info --version; expect_out '^spz [0-9]' "spz info --version"
run prune --sparsty 0.5 "$T/m.json"
expect_err "^spz prune: unknown option '--sparsty'; did you mean --sparsity\?$" "did you mean --sparsity?"
run report --frobnicate "$T/q.eie"
expect_err "^spz report: unknown option '--frobnicate'$" "nothing close: no suggestion"

# ---- 80 columns ----------------------------------------------------------
fits80() { # NAME: every line of $out and $err fits 80 columns
	long=$(printf '%s\n%s\n' "$out" "$err" | awk 'length($0) > 80' | head -3)
	if [ -z "$long" ]; then ok "$1: fits 80 columns"; else notok "$1: fits 80 columns" "$long"; fi
}
"$SPZ" gen mlp --dims 784,300,100,10 -o "$T/big.spzm"
"$SPZ" prune --sparsity 0.9 "$T/big.spzm" -q | "$SPZ" quantize -q -o "$T/bq.spzm"
"$SPZ" pack "$T/bq.spzm" -o "$T/bq.eie" -q
"$PY" - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(1)
np.save(t + "/bx.npy", rng.standard_normal((50, 784)).astype(np.float32))
np.save(t + "/by.npy", (np.arange(50) % 10).astype(np.int64))
PY
run --help; fits80 "spz --help"
for c in gen train info convert prune finetune quantize pack unpack report run eval sensitivity; do
	run help $c; fits80 "spz help $c"
done
run info "$T/bq.spzm"; fits80 "info of the quantized MLP"
run prune --sparsity 0.9 "$T/big.spzm" -o "$T/bp.spzm"; fits80 "prune of the MLP"
run quantize "$T/bp.spzm" -o "$T/bq2.spzm"; fits80 "quantize of the MLP"
run report "$T/bq.spzm"; fits80 "report of the MLP"
# -v notes wrap at 80 columns but never between a number and its unit:
# input paths of 1 to 45 more characters move the break twice across
# the whole of "read '...' (...) in 0.001 s" (longer ones make the path
# alone wider than 80 columns, which no wrapping can help).
split=""
name=""
for i in $(seq 45); do
	name="${name}a"
	cp "$T/bq.spzm" "$T/$name.spzm"
	"$SPZ" info -v "$T/$name.spzm" >/dev/null 2>"$T/.err"
	awk 'length($0) > 80' "$T/.err" | grep -q . && split="$split over80:$i"
	grep -Eq '^ +[A-Za-z]{1,3}$' "$T/.err" && split="$split unit:$i"
	rm -f "$T/$name.spzm"
done
check "-v notes: no line over 80 columns, no unit alone on a line" test -z "$split"
check "report: the summary line comes last" sh -c "printf '%s\n' \"\$1\" | tail -1 | grep -Eq '^total: .* compression, .* cycles, .*(fits|does not fit) in SRAM$'" _ "$out"
run report "$T/bq.spzm" --arch all; fits80 "report --arch all"
run report "$T/bq.spzm" --wide
long=$(printf '%s\n' "$out" | awk 'length($0) > 80' | wc -l)
check "report --wide keeps the full tables" test "$long" -gt 0
run info --dump "$T/bq.eie"; fits80 "info --dump of an EIE image"
# The blocks keep every value: the same numbers as the one-line --wide.
"$SPZ" info --dump --wide --layer fc1 --pe 0 "$T/bq.eie" | grep -E '^  (virtual|relative)' | awk '{ sub(/^  [a-z ]+  +/, ""); print }' >"$T/wide.txt"
check "info --dump --wide: one line per vector" sh -c "[ \$(wc -l <'$T/wide.txt') -eq 2 ] && awk 'length(\$0) > 80' '$T/wide.txt' | grep -q ."
"$SPZ" info --dump --layer fc1 --pe 0 "$T/bq.eie" | awk '/^  virtual weight/ { sub(/^  virtual weight +/, ""); printf "%s ", $0 }' | tr -s ' ' '\n' | grep . >"$T/v80.txt"
head -1 "$T/wide.txt" | tr -s ' ' '\n' | grep . >"$T/vwide.txt"
check "info --dump: the wrapped virtual weights are the whole vector" cmp "$T/v80.txt" "$T/vwide.txt"
"$SPZ" pack "$T/bq.spzm" --format csr -o "$T/bq.csr" -q
run info --dump "$T/bq.csr"; fits80 "info --dump of a CSR image"
run info --dump --wide "$T/bq.csr"
long=$(printf '%s\n' "$out" | awk 'length($0) > 80' | wc -l)
check "info --dump --wide: vectors on one line" test "$long" -gt 0
run run "$T/bq.eie" --random-input --check; fits80 "run --check"
run eval "$T/bq.eie" --x "$T/bx.npy" --y "$T/by.npy"; fits80 "eval with a 10-class confusion matrix"
run sensitivity "$T/big.spzm" --x "$T/bx.npy" --y "$T/by.npy" --sparsities 0.5,0.9; fits80 "sensitivity"
# An ONNX model with long names (python3-onnx), if it is installed.
if "$PY" - "$T" <<'PY' 2>/dev/null
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
t = sys.argv[1]
w = numpy_helper.from_array(np.ones((8, 16), np.float32), "model.encoder.layers.0.self_attention.query_projection.weight")
n = helper.make_node("MatMul", ["input_activations_of_the_first_layer", w.name], ["output_of_the_query_projection"], name="query_projection_matmul")
g = helper.make_graph([n], "g", [helper.make_tensor_value_info("input_activations_of_the_first_layer", TensorProto.FLOAT, [1, 8])],
                      [helper.make_tensor_value_info("output_of_the_query_projection", TensorProto.FLOAT, [1, 16])], [w])
onnx.save(helper.make_model(g), t + "/long.onnx")
PY
then
	run info "$T/long.onnx"; expect_rc 0 "info of an ONNX model with long names"; fits80 "info of an ONNX model"
	run info --wide "$T/long.onnx"
	expect_out 'model\.encoder\.layers\.0\.self_attention\.query_projection\.weight' "info --wide: names whole"
fi
# Non-ASCII names align by display width: a JSON model with a tensor named
# with accents and CJK, its columns after the name start at one column.
"$PY" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
m = json.load(open(t + "/m.json"))
for i in m["initializers"]:
    if i["name"] == "fc1.weight": i["name"] = "poids_é"
    if i["name"] == "fc2.weight": i["name"] = "重み"
for n in m["nodes"]:
    n["inputs"] = [{"fc1.weight": "poids_é", "fc2.weight": "重み"}.get(x, x) for x in n["inputs"]]
json.dump(m, open(t + "/u.json", "w"), ensure_ascii=False)
PY
run info "$T/u.json"
cols=$(printf '%s\n' "$out" | grep -E '^  (poids_é|重み|fc1.bias) ' | "$PY" -c '
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
print(len({width(l.split(" float32")[0]) for l in sys.stdin}))')
check "non-ASCII names: the dtype column starts at one display column" test "$cols" = 1

# ---- progress --------------------------------------------------------------
# Every long-running command, forced to draw at once (SPZ_PROGRESS_DELAY=0):
# one line redrawn with \r and "WHAT  N%" on a terminal; nothing on stderr
# in a file or a pipe; nothing with -q even on a terminal.
# command and arguments | the WHAT of its line
cat >"$T/ptable" <<EOF
gen layer --rows 500 --cols 300 -o $T/pg.spzm|gen
gen mlp --dims 784,300,100,10 -o $T/pg.spzm|gen
prune --sparsity 0.9 --scope global $T/big.spzm -o $T/pp.spzm|prune
prune --nm 2:4 $T/big.spzm -o $T/pp.spzm|prune
quantize $T/bp.spzm -o $T/pq.spzm|quantize
quantize --optimal $T/bp.spzm -o $T/pq.spzm|quantize
pack $T/bq.spzm -o $T/pk.eie|pack
run $T/bq.eie --random-input --batch 20 -o /dev/null|emulating
run $T/bq.spzm --random-input -o /dev/null|pack
eval $T/bq.eie --x $T/bx.npy --y $T/by.npy|evaluating
eval $T/bq.spzm --x $T/bx.npy --y $T/by.npy|evaluating
train --dims 784,10 --epochs 2 --batch 5 --x $T/bx.npy --y $T/by.npy -o $T/pt.spzm|train
finetune --epochs 2 --batch 5 --x $T/bx.npy --y $T/by.npy $T/bp.spzm -o $T/pt.spzm|finetune
convert $T/big.json -o $T/pc.spzm|reading '[^']*big.json'
convert $T/big.spzm -o $T/pc.onnx|reading '[^']*big.spzm'
convert $T/pc.onnx -o $T/pc.json|reading '[^']*pc.onnx'
prune --sparsity 0.5 $T/big.json -o $T/pp.spzm|reading '[^']*big.json'
convert $T/big.spzm -o $T/pw.json|writing '[^']*pw.json'
EOF
# The binary writers tell progress every 8 MiB written: a 16 MiB layer
# shows a percent between 0 and 100 for each format, and for the
# external data file beside an ONNX or JSON model.
cat >"$T/wtable" <<EOF
convert $T/l16.spzm -o $T/pw.spzm|writing '[^']*pw.spzm'
convert $T/l16.spzm -o $T/pw.onnx|writing '[^']*pw.onnx'
convert $T/l16.spzm -o $T/pw.onnx --external-data pw.bin|writing '[^']*pw.onnx'
convert $T/l16.spzm -o $T/pw.json --external-data pw.bin|writing '[^']*pw.json'
gen layer --rows 2048 --cols 2048 -o $T/pw.spzm|writing '[^']*pw.spzm'
EOF
"$SPZ" gen layer --rows 2048 --cols 2048 -o "$T/l16.spzm"
cat "$T/wtable" >>"$T/ptable"
# Reading a model shows progress too (every command; each format), and
# writing JSON (the slow one to write).
"$SPZ" convert "$T/big.spzm" -o "$T/big.json"
cr=$(printf '\r') esc=$(printf '\033')
while IFS='|' read -r args what; do
	# shellcheck disable=SC2086
	SPZ_PROGRESS_DELAY=0 "$SPZ" $args 2>"$T/.err" >/dev/null
	check "$what ($args): no progress when stderr is not a terminal" sh -c "! grep -q '$cr' '$T/.err' && ! grep -q '$esc\[K' '$T/.err'"
	# shellcheck disable=SC2086
	SPZ_PROGRESS_DELAY=0 "$SPZ" $args 2>&1 | cat >"$T/.err"
	check "$what ($args): none in a pipe" sh -c "! grep -q '$cr' '$T/.err'"
	if [ $have_script = 1 ]; then
		script -qec "SPZ_PROGRESS_DELAY=0 '$SPZ' $args" /dev/null </dev/null >"$T/.pty" 2>&1
		check "$what ($args): progress on a terminal, one line redrawn with \\r" grep -Eq "$cr(.\\[K)?$what +[0-9]+%" "$T/.pty"
		in_pty "SPZ_PROGRESS_DELAY=0 '$SPZ' $args -q"
		check "$what ($args) -q: nothing even on a terminal" test -z "$out"
	fi
done <"$T/ptable"
if [ $have_script = 1 ]; then
	while IFS='|' read -r args what; do
		script -qec "SPZ_PROGRESS_DELAY=0 '$SPZ' $args" /dev/null </dev/null >"$T/.pty" 2>&1
		check "$what ($args): a percent between 0 and 100 while writing" grep -Eq "$cr(.\\[K)?$what +[1-9][0-9]?%" "$T/.pty"
	done <"$T/wtable"
fi
# Pruning a weight left in its file tells each megabyte of the pass: a
# 16 MiB layer shows a percent between 0 and 100, in each mode.
if [ $have_script = 1 ]; then
	for mode in "--sparsity 0.9" "--nm 2:4" "--threshold 0.01"; do
		script -qec "SPZ_PROGRESS_DELAY=0 '$SPZ' prune $mode '$T/l16.spzm' -o '$T/pp16.spzm'" /dev/null </dev/null >"$T/.pty" 2>&1
		check "prune $mode of a 16 MiB .spzm: a percent between 0 and 100" grep -Eq "$cr(.\\[K)?prune +[1-9][0-9]?%" "$T/.pty"
	done
fi
if [ $have_script = 1 ]; then
	in_pty "'$SPZ' quantize '$T/bp.spzm' -o '$T/pq.spzm'"
	check "quick work: no progress before 1 s" sh -c "! printf '%s' \"\$1\" | grep -q 'quantize  *[0-9]*%'" _ "$out"
	# The line is erased before the table is printed.
	script -qec "SPZ_PROGRESS_DELAY=0 '$SPZ' quantize '$T/bp.spzm' -o '$T/pq.spzm'" /dev/null </dev/null >"$T/.pty" 2>&1
	check "quantize: the line is erased before the table" sh -c "tr '$cr' '\n' <'$T/.pty' | grep -q '^.\\[Ktensor '"
	# A model written to standard output: named as spz's messages name it.
	script -qec "SPZ_PROGRESS_DELAY=0 '$SPZ' convert '$T/big.spzm' --to json -o - >'$T/so.json'" /dev/null </dev/null >"$T/.pty" 2>&1
	check "writing to standard output: the line says '<stdout>'" grep -Eq "$cr(.\\[K)?writing '<stdout>' +[0-9]+%" "$T/.pty"
	check "writing to standard output: not '-'" sh -c "! grep -q \"writing '-'\" '$T/.pty'"
fi

done_testing
