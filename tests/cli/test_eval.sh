#!/bin/sh
# test_eval.sh - spz eval, spz sensitivity and spz run --data on data made
# here (NumPy as the outside oracle of the forward pass and the accuracy),
# an image's accuracy against spz run's fixed-point outputs, --reference
# against itself, the real Fashion-MNIST test set, and every refusal (one
# line, exit code, no output file left).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
DATA=${SPZ_DATA:-/usr/share/datasets/fashion-mnist}

# A 6-5-3 MLP and 40 samples with labels; NumPy computes the logits.
"$SPZ" gen mlp --dims 6,5,3 --seed 3 -o "$T/m.json" 2>/dev/null
"$PY" - "$T" <<'PY'
import json, sys, numpy as np
t = sys.argv[1]
m = json.load(open(t + "/m.json"))
w = {i["name"]: np.array(i["data"], dtype=np.float32).reshape(i["dims"]) for i in m["initializers"]}
rng = np.random.default_rng(5)
x = rng.standard_normal((40, 6)).astype(np.float32)
h = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
y = h @ w["fc2.weight"].T + w["fc2.bias"]
lab = (np.arange(40) % 3).astype(np.int64)
np.save(t + "/x.npy", x); np.save(t + "/y.npy", lab)
np.save(t + "/x64.npy", x.astype(np.float64))
np.save(t + "/xf.npy", np.asfortranarray(x.reshape(40, 2, 3)))
bad = lab.copy(); bad[7] = 3; np.save(t + "/ybad.npy", bad)
np.save(t + "/y39.npy", lab[:39])
xn = x.copy(); xn[4, 2] = np.nan; np.save(t + "/xnan.npy", xn)
np.save(t + "/x7.npy", np.zeros((40, 7), np.float32))
acc = float((y.argmax(1) == lab).mean())
z = y - y.max(1, keepdims=True)
ce = float((np.log(np.exp(z).sum(1)) - z[np.arange(40), lab]).mean())
open(t + "/want", "w").write("%.6f %.6f\n" % (acc, ce))
PY
read -r want_acc want_ce <"$T/want"

run eval "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --json
expect_rc 0 "eval a model on .npy data"
got=$(printf '%s' "$out" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print("%.6f %.6f" % (j["accuracy"], j["cross_entropy"]))')
check "accuracy and cross-entropy equal NumPy's ($want_acc $want_ce)" test "$got" = "$want_acc $want_ce"
expect_out '"act_density_in":' "layers carry their input density"
expect_out '"confusion":' "confusion matrix in the JSON"
run eval "$T/m.json" --x "$T/x64.npy" --y "$T/y.npy"
expect_rc 0 "float64 inputs"
expect_out "^top-1 accuracy  " "text report"
expect_out "^confusion \(rows: true class, columns: predicted\)$" "confusion in the text"
check "text within 80 columns" sh -c "! printf '%s\n' \"\$1\" | awk 'length > 80' | grep -q ." sh "$out"
run eval "$T/m.json" --x "$T/x.npy" --reference "$T/m.json" --json
expect_rc 0 "--reference, no labels"
expect_out '"agreement":[[:space:]]+1,' "a model against itself: 100% agreement"
expect_out '"max_rel_error":[[:space:]]+0,' "and error 0"
expect_out '"accuracy":[[:space:]]+null' "no labels: accuracy null"
run eval "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --limit 10 --json="$T/e.json"
expect_rc 0 "--json=FILE"
check "JSON file written" grep -q '"samples":[[:space:]]*10,' "$T/e.json"
expect_out "^accuracy .* on 10 samples$" "text still on stdout, one summary line last"

# An image: eval's accuracy equals the one computed from spz run's fixed
# point outputs on the same samples with the same Q formats.
"$SPZ" quantize "$T/m.json" --bits 4 -o "$T/q.json" 2>/dev/null
"$SPZ" pack "$T/q.json" --pes 2 -o "$T/q.eie" >/dev/null 2>&1
run eval "$T/q.eie" --x "$T/x.npy" --y "$T/y.npy" --json
expect_rc 0 "eval an EIE image"
fr=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(",".join(str(v) for v in json.load(sys.stdin)["fixed_point"]["act_frac_bits"]))')
ia=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print("%.6f" % json.load(sys.stdin)["accuracy"])')
"$PY" -c 'import json,sys,numpy as np; json.dump(np.load(sys.argv[1]).tolist(), open(sys.argv[2],"w"))' "$T/x.npy" "$T/x.json"
"$SPZ" run "$T/q.eie" --input "$T/x.json" --act-frac-bits "$fr" -o "$T/yq.json" -q
ra=$("$PY" -c 'import json,sys,numpy as np; y=np.array(json.load(open(sys.argv[1]))); l=np.load(sys.argv[2]); print("%.6f" % (y.argmax(1)==l).mean())' "$T/yq.json" "$T/y.npy")
check "image accuracy ($ia) = accuracy of spz run's fixed-point outputs ($ra)" test "$ia" = "$ra"
run eval "$T/q.eie" --x "$T/x.npy" --y "$T/y.npy" --emulate --json
expect_rc 0 "--emulate"
expect_out '"cycles_per_sample":' "emulator cycles"
ea=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print("%.6f" % json.load(sys.stdin)["accuracy"])')
check "emulated accuracy equals the reference's" test "$ea" = "$ia"
run eval "$T/q.eie" --x "$T/x.npy" --reference "$T/q.json"
expect_rc 0 "image against its quantized model"
expect_out "top-1 agreement" "agreement line"
run eval "$T/q.eie" --x "$T/x.npy" --y "$T/y.npy" --json="$T/act.json" -q
"$SPZ" report "$T/q.eie" --activity "$T/act.json" >/dev/null 2>"$T/rep.err"
check "spz report --activity reads eval's JSON" test $? -eq 0

# spz run --data: the emulator on the samples, accuracy from labels.
run run "$T/q.eie" --x "$T/x.npy" --y "$T/y.npy" --json -q
expect_rc 0 "run --x/--y"
expect_out '"accuracy":' "accuracy in run's JSON"
expect_out '"vectors":[[:space:]]+40' "every sample run"

# Sensitivity.
run sensitivity "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --sparsities 0.5,0.9 --nm 2:4 --bits 2 --csv
expect_rc 0 "sensitivity --csv"
expect_out "^tensor,kind,level,accuracy,baseline$" "CSV header"
expect_out "^fc1.weight,nm,2:4," "N:M level"
expect_out "^fc2.weight,bits,2b," "bits level"
run sensitivity "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --sparsities 0 --json
s0=$(printf '%s' "$out" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(all(l["accuracy"]==j["baseline"] for t in j["tensors"] for l in t["levels"]))')
check "sparsity 0 keeps the baseline" test "$s0" = True
run sensitivity "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --png "$T/s.png"
expect_rc 0 "sensitivity --png"
check "a PNG" sh -c "head -c 8 '$T/s.png' | od -An -tx1 | grep -q '89 50 4e 47'"
expect_out "^most sensitive: " "summary line"

# The real data set.
if [ -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
	"$SPZ" gen mlp --dims 784,30,10 -o "$T/f.spzm" 2>/dev/null
	run eval "$T/f.spzm" --data "$DATA" --limit 500 --json
	expect_rc 0 "Fashion-MNIST t10k (gzip IDX)"
	expect_out '"samples":[[:space:]]+500' "--limit 500"
	run eval "$T/f.spzm" --data "$DATA" --split train --limit 3 -q
	expect_rc 0 "--split train"
fi

# Refusals: one line, exit code, no output file.
for c in "--x $T/xf.npy:Fortran-order" "--x $T/xnan.npy:sample 4, value 2 is NaN" \
         "--x $T/x.npy --y $T/y39.npy:holds 39 labels but" \
         "--x $T/x7.npy:takes 6 inputs|7"; do
	opt=${c%%:*}; msg=${c#*:}
	run eval "$T/m.json" $opt --json="$T/no.json"
	expect_rc 1 "eval refuses: $msg"
	expect_err "$msg" "message: $msg"
	expect_one_line "one line: $msg"
	expect_no_file "$T/no.json" "nothing written: $msg"
done
run eval "$T/m.json" --x "$T/x.npy" --y "$T/ybad.npy" --json="$T/no.json"
expect_rc 1 "label outside the classes"
expect_err "sample 7: label 3 is outside the model's 3 classes" "names the sample"
expect_no_file "$T/no.json" "nothing written"
run eval "$T/m.json" --x "$T/x.npy" --limit 0
expect_rc 2 "--limit 0 is a usage error"
expect_one_line "--limit 0: one line"
run eval "$T/m.json"
expect_rc 2 "no data"
expect_err "give the samples" "says how"
run eval "$T/m.json" --data "$T" --x "$T/x.npy"
expect_rc 2 "--data and --x"
run eval "$T/m.json" --data "$T"
expect_rc 1 "a folder without IDX files"
expect_err "no t10k-images-idx3-ubyte\[.gz\] in this folder" "names what is missing"
cat >"$T/lstm.json" <<'JSON'
{"format": "spz-model", "version": 1, "name": "l", "inputs": ["x"], "outputs": ["y"],
 "nodes": [{"op": "Tanh", "name": "t", "inputs": ["x"], "outputs": ["y"]}], "initializers": [], "history": []}
JSON
run eval "$T/lstm.json" --x "$T/x.npy"
expect_rc 1 "an op the forward pass lacks"
expect_err "node 't': the forward pass has no op 'Tanh'" "names the op"
expect_one_line "one line"
run eval "$T/q.eie" --x "$T/x.npy" --act-frac-bits 99
expect_rc 2 "bad --act-frac-bits"
run eval "$T/m.json" --x "$T/x.npy" --emulate
expect_rc 2 "--emulate on a model"
run sensitivity "$T/m.json" --x "$T/x.npy"
expect_rc 2 "sensitivity without labels"
run sensitivity "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" --sparsities 1.5 --csv="$T/no.csv"
expect_rc 2 "bad sparsity"
expect_no_file "$T/no.csv" "nothing written"
run sensitivity "$T/m.json" --x "$T/x.npy" --y "$T/ybad.npy" --csv="$T/no.csv"
expect_rc 1 "sensitivity: bad label"
expect_no_file "$T/no.csv" "nothing written"
run sensitivity "$T/q.eie" --x "$T/x.npy" --y "$T/y.npy"
expect_rc 1 "sensitivity refuses an image"
run run "$T/q.eie" --x "$T/x.npy" --random-input
expect_rc 2 "run: --x and --random-input"
run run "$T/q.eie" --x "$T/x.npy" --y "$T/ybad.npy" -o "$T/no.json"
expect_rc 1 "run: label outside the image's classes"
expect_no_file "$T/no.json" "nothing written"
# OpenBLAS is loaded by the first matrix product, not at start: its
# pthread build's constructor starts threads that spin in every process.
# glibc's loader names every library it loads under LD_DEBUG=libs.
LD_DEBUG=libs "$SPZ" eval "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" -q >/dev/null 2>"$T/ld.err"
check "eval loads OpenBLAS (for its GEMMs)" grep -q 'libopenblas' "$T/ld.err"
for args in "--version" "info $T/m.json" "prune --sparsity 0.5 $T/m.json -o $T/ld.spzm" \
            "quantize $T/m.json -o $T/ld2.spzm"; do
	# shellcheck disable=SC2086
	LD_DEBUG=libs "$SPZ" $args >/dev/null 2>"$T/ld.err"
	check "spz $args does not load OpenBLAS" sh -c "! grep -q libopenblas '$T/ld.err'"
done
# A BLAS that cannot be loaded (a libopenblas.so.0 that is no library,
# found first through LD_LIBRARY_PATH): one line naming it, exit 1; a
# command without products does not notice.
mkdir -p "$T/badblas"
printf 'not a library\n' >"$T/badblas/libopenblas.so.0"
LD_LIBRARY_PATH="$T/badblas" "$SPZ" eval "$T/m.json" --x "$T/x.npy" --y "$T/y.npy" >"$T/.out" 2>"$T/.err"
rc=$?; err=$(cat "$T/.err")
expect_rc 1 "BLAS that cannot be loaded: exit 1"
expect_err "^spz: .*cannot load BLAS \('libopenblas.so.0'\): .*libopenblas.so.0" "BLAS that cannot be loaded: the message names it"
expect_one_line "BLAS that cannot be loaded: one line"
LD_LIBRARY_PATH="$T/badblas" "$SPZ" info "$T/m.json" >/dev/null 2>&1
rc=$?
expect_rc 0 "BLAS that cannot be loaded: info still works"

done_testing
