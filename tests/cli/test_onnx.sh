# test_onnx.sh - ONNX in and out, against outside oracles: models made by
# Debian's python3-onnx (tests/onnx/make_models.py), every .onnx spz writes
# checked by onnx.checker, and run by onnxruntime (tests/onnx/run_ort.js)
# against the original graph holding the weights spz computed
# (tests/onnx/reference.py dequantizes with NumPy).
. "$(dirname "$0")/lib.sh"
ONNX_DIR=$(cd "$(dirname "$0")/../onnx" && pwd)
PY=/usr/bin/python3
M="$T/models"
mkdir "$M"
if ! "$PY" "$ONNX_DIR/make_models.py" "$M" 2>"$T/py.err"; then
	notok "python3-onnx makes the test models (make check installs it)" "$(cat "$T/py.err")"
	done_testing
	exit 0
fi
ok "python3-onnx makes the test models"
have_ort=1
[ -d "$ONNX_DIR/node_modules/onnxruntime-node" ] || have_ort=0
check "onnxruntime-node is installed (make check runs npm ci in tests/onnx)" test $have_ort = 1

# input shapes of make_models.py
shape() {
	case $1 in
	mlp_t1|mlp_t0|external) echo input=4x16 ;;
	matmul) echo input=2x3x16 ;;
	conv) echo input=1x2x8x8 ;;
	flatten) echo input=1x4x4 ;;
	fp16) echo input=2x12 ;;
	constant) echo input=3x10 ;;
	extras) echo input=2x6 ;;
	esac
}

# spz's output OUT of model NAME: checker, then onnxruntime against the
# reference (the original graph with OUT's weights).
oracle() {
	name=$1; out=$2; what=$3
	if "$PY" "$ONNX_DIR/reference.py" "$M/$name.onnx" "$out" "$T/ref.onnx" >"$T/ref.log" 2>&1; then
		ok "$what: onnx.checker passes, reference built"
	else
		notok "$what: onnx.checker passes, reference built" "$(tail -3 "$T/ref.log")"
		return
	fi
	[ $have_ort = 1 ] || return
	if (cd "$ONNX_DIR" && node run_ort.js "$out" "$T/ref.onnx" $(shape "$name")) >"$T/ort.log" 2>&1; then
		ok "$what: onnxruntime output equals the reference ($(cat "$T/ort.log"))"
	else
		notok "$what: onnxruntime output equals the reference" "$(cat "$T/ort.log")"
	fi
}

# ---- pass-through -------------------------------------------------------
for f in mlp_t1 mlp_t0 matmul conv flatten fp16 constant extras; do
	run convert "$M/$f.onnx" -o "$T/$f.rt.onnx"
	check "$f: convert .onnx -> .onnx is byte-identical" cmp "$M/$f.onnx" "$T/$f.rt.onnx"
	"$SPZ" convert "$M/$f.onnx" -o "$T/$f.json" && "$SPZ" convert "$T/$f.json" -o "$T/$f.spzm" &&
		"$SPZ" convert "$T/$f.spzm" -o "$T/$f.back.onnx"
	check "$f: .onnx -> JSON -> .spzm -> .onnx is byte-identical" cmp "$M/$f.onnx" "$T/$f.back.onnx"
done
run_in "$M/extras.onnx" convert - -o "$T/stdin.onnx"
check "ONNX from standard input (sniffed)" cmp "$M/extras.onnx" "$T/stdin.onnx"

run info "$M/conv.onnx"
expect_out '^  conv.weight +8x2x3x3 +float32 +weight ' "info: Conv W is a weight"
expect_out '^  conv.bias +8 +float32 +bias ' "info: Conv B is a bias"
expect_out '^  shape +2 +int64 +other ' "info: the INT64 Reshape shape is carried, role other"
run info "$M/matmul.onnx"
expect_out '^  fc1.bias +24 +float32 +bias ' "info: Add after MatMul is a bias"
run info "$M/fp16.onnx"
expect_out '^  fc1.weight +16x12 +float16 +weight ' "info: FLOAT16 weight"
run info "$M/constant.onnx"
expect_out '^  fc1.weight +12x10 +float32 +weight ' "info: a Constant node's tensor is a weight"
run info --json "$M/extras.onnx"
expect_out '"role":.*"weight"' "info --json: roles"

# external data
run convert "$M/external.onnx" -o "$T/ext_in.onnx"
expect_rc 0 "external data is read"
oracle external "$T/ext_in.onnx" "external data inlined"
mkdir "$T/x"
run convert "$M/external.onnx" -o "$T/x/m.onnx" --external-data m.data
expect_rc 0 "--external-data writes"
check "--external-data: the data file is beside the model" test -s "$T/x/m.data"
oracle external "$T/x/m.onnx" "written with external data"
run convert "$T/x/m.onnx" -o "$T/x/m2.onnx" --external-data m.data
check "external data round trip is byte-identical" cmp "$T/x/m.onnx" "$T/x/m2.onnx"
run convert "$M/mlp_t1.onnx" -o "$T/x.spzm" --external-data d
expect_rc 2 "--external-data with a .spzm output is a usage error"

# --external-data on every command that writes a model (issue 11): the
# data file beside the model, read back by onnx.checker and onnxruntime.
mkdir "$T/xd"
run prune "$M/conv.onnx" --sparsity 0.5 -o "$T/xd/p.onnx" --external-data p.data
expect_rc 0 "prune --external-data"
check "prune --external-data: the data file holds the tensors" test -s "$T/xd/p.data"
check "prune --external-data: no weight left inline" sh -c '[ $(wc -c <"$1") -lt 2048 ]' _ "$T/xd/p.onnx"
oracle conv "$T/xd/p.onnx" "conv pruned, external data"
run quantize "$T/xd/p.onnx" -o "$T/xd/q.onnx" --external-data q.data
expect_rc 0 "quantize --external-data"
check "quantize --external-data: the data file" test -s "$T/xd/q.data"
oracle conv "$T/xd/q.onnx" "conv pruned + quantized (palettized), external data"
run convert "$T/xd/q.onnx" -o "$T/xd/q2.onnx"
expect_rc 0 "the external-data model reads back"
run quantize "$T/xd/p.onnx" -o "$T/xd/q4.onnx"
check "quantize: the same model inline and with external data" cmp "$T/xd/q2.onnx" "$T/xd/q4.onnx"
# python3-onnx loads the external tensors: the same values as the model
# written inline.
same_tensors() {
	"$PY" -c '
import onnx, sys
from onnx import numpy_helper
raw = onnx.load(sys.argv[1], load_external_data=False)
assert any(t.data_location == 1 for t in raw.graph.initializer)
a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
ta = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
tb = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
assert ta.keys() == tb.keys() and all((ta[k] == tb[k]).all() for k in ta)
print(len(ta), "tensors")' "$1" "$2"
}
run gen mlp --dims 300,200,10 --seed 3 -o "$T/xd/g.onnx" --external-data g.data
expect_rc 0 "gen --external-data"
check "gen --external-data: the data file" test -s "$T/xd/g.data"
"$SPZ" gen mlp --dims 300,200,10 --seed 3 -o "$T/xd/g_in.onnx" 2>/dev/null
check "gen --external-data: onnx reads the same tensors as inline" same_tensors "$T/xd/g.onnx" "$T/xd/g_in.onnx"
"$SPZ" quantize "$T/xd/g_in.onnx" -o "$T/xd/m.q.onnx" >/dev/null 2>&1
"$SPZ" pack "$T/xd/m.q.onnx" -o "$T/xd/m.eie" >/dev/null 2>&1
run unpack "$T/xd/m.eie" -o "$T/xd/u.onnx" --external-data u.data
expect_rc 0 "unpack --external-data"
"$SPZ" unpack "$T/xd/m.eie" -o "$T/xd/u_in.onnx" 2>/dev/null
check "unpack --external-data: onnx reads the same tensors as inline" same_tensors "$T/xd/u.onnx" "$T/xd/u_in.onnx"
# Graphs spz makes itself (gen, unpack) declare the shapes of their inputs
# and outputs, batch "N", as onnx.checker wants of a main graph; the full
# check (shape inference) agrees with them, and onnxruntime runs them.
made_by_spz() {
	"$PY" -c '
import onnx, sys
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
def dims(v):
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
got = [dims(v) for v in list(m.graph.input) + list(m.graph.output)]
assert got == [["N", 300], ["N", 10]], got
print("checker passes,", got)' "$1"
}
check "gen: the .onnx passes onnx.checker (full) with its io shapes" made_by_spz "$T/xd/g_in.onnx"
check "unpack: the .onnx passes onnx.checker (full) with its io shapes" made_by_spz "$T/xd/u_in.onnx"
check "gen with external data: onnx.checker passes" made_by_spz "$T/xd/g.onnx"
if [ $have_ort = 1 ]; then
	check "gen: onnxruntime runs the .onnx spz made" sh -c 'cd "$1" && node run_ort.js "$2" "$2" input=3x300' - "$ONNX_DIR" "$T/xd/g_in.onnx"
fi
DATA=${SPZ_DATA:-/usr/share/datasets/fashion-mnist}
"$SPZ" gen mlp --dims 784,64,10 -o "$T/xd/f.onnx" 2>/dev/null
run finetune "$T/xd/f.onnx" --data "$DATA" --epochs 1 --limit 200 -o "$T/xd/ft.onnx" --external-data ft.data
expect_rc 0 "finetune --external-data"
"$SPZ" finetune "$T/xd/f.onnx" --data "$DATA" --epochs 1 --limit 200 -o "$T/xd/ft_in.onnx" -q 2>/dev/null
check "finetune --external-data: onnx reads the same tensors as inline" same_tensors "$T/xd/ft.onnx" "$T/xd/ft_in.onnx"
for cmd in "prune $M/conv.onnx --sparsity 0.5" "quantize $M/conv.onnx" "gen mlp --dims 4,2"; do
	run $cmd -o "$T/xd/no.spzm" --external-data d.data
	expect_rc 2 "${cmd%% *} --external-data with a .spzm output: usage error"
	expect_one_line "${cmd%% *} --external-data: one line"
	expect_no_file "$T/xd/no.spzm" "${cmd%% *} --external-data: no output"
	expect_no_file "$T/xd/d.data" "${cmd%% *} --external-data: no data file"
done
# With a JSON output every command puts its big tensors beside it too.
run prune "$M/conv.onnx" --sparsity 0.5 -o "$T/xd/pj.json" --external-data pj.data
expect_rc 0 "prune --external-data with a JSON output"
check "prune --external-data with a JSON output: the data file" test -s "$T/xd/pj.data"
"$SPZ" prune "$M/conv.onnx" --sparsity 0.5 -o "$T/xd/pj_in.json" 2>/dev/null
"$SPZ" convert "$T/xd/pj.json" -o "$T/xd/pj.spzm" 2>/dev/null
"$SPZ" convert "$T/xd/pj_in.json" -o "$T/xd/pj_in.spzm" 2>/dev/null
check "prune --external-data with a JSON output: the same model as inline" cmp "$T/xd/pj.spzm" "$T/xd/pj_in.spzm"
run prune "$M/conv.onnx" --sparsity 0.5 --to onnx --external-data d.data
expect_rc 2 "--external-data to standard output: usage error"
expect_err "needs the model in a file" "says the model must go to a file"
run report "$M/conv.onnx" --external-data d.data
expect_rc 2 "report does not take --external-data (it writes no model)"

# ---- prune, quantize, back to ONNX --------------------------------------
for f in mlp_t1 mlp_t0 matmul conv flatten fp16 constant extras; do
	run prune "$M/$f.onnx" --sparsity 0.5 -o "$T/$f.p.onnx"
	expect_rc 0 "$f: prune --sparsity 0.5 to .onnx"
	oracle "$f" "$T/$f.p.onnx" "$f pruned"
	run quantize "$T/$f.p.onnx" -o "$T/$f.q.onnx"
	expect_rc 0 "$f: quantize to palettized .onnx"
	oracle "$f" "$T/$f.q.onnx" "$f pruned + quantized"
	run convert "$T/$f.q.onnx" -o "$T/$f.q2.onnx"
	check "$f: palettized .onnx reads back and rewrites byte-identically" cmp "$T/$f.q.onnx" "$T/$f.q2.onnx"
	run info "$T/$f.q.onnx"
	expect_out 'entries, [0-9] bits' "$f: the palettized weights read back quantized"
done
check "palettized file is smaller than the dense one" test "$(wc -c <"$T/conv.q.onnx")" -lt "$(wc -c <"$T/conv.p.onnx")"
for f in mlp_t1 mlp_t0 matmul flatten; do
	run prune "$M/$f.onnx" --nm 2:4 -o "$T/$f.nm.onnx"
	expect_rc 0 "$f: prune --nm 2:4"
	oracle "$f" "$T/$f.nm.onnx" "$f 2:4"
done
grep -q 'zeros 0.5000' "$T/ref.log"
check "2:4 left half the weights zero" test $? = 0

# a pipeline through .spzm on pipes keeps the graph
"$SPZ" prune "$M/conv.onnx" --sparsity 0.5 -o - 2>/dev/null | "$SPZ" quantize - -o - 2>/dev/null |
	"$SPZ" convert - -o "$T/pipe.onnx"
oracle conv "$T/pipe.onnx" "prune | quantize | convert"
check "the pipeline's .onnx equals the file-to-file one" cmp "$T/pipe.onnx" "$T/conv.q.onnx"

# ---- bad input ----------------------------------------------------------
bad() {
	name=$1; file=$2; pattern=$3
	run convert "$file" -o "$T/bad.onnx"
	expect_rc 1 "$name: exit 1"
	expect_err "^spz: '$file': $pattern" "$name: says what"
	expect_one_line "$name: one line"
	expect_no_file "$T/bad.onnx" "$name: no output"
}
size=$(wc -c <"$M/mlp_t1.onnx")
head -c $((size - 100)) "$M/mlp_t1.onnx" >"$T/trunc.onnx"
bad "truncated" "$T/trunc.onnx" "not ONNX: length past the end"
printf '\010\010\072\003\012\001\377' >"$T/garbage.onnx"
bad "garbage" "$T/garbage.onnx" "not ONNX"
printf '\010\010\071\001\002\003\004\005\006\007\010' >"$T/wire.onnx"
bad "graph with the wrong wire type" "$T/wire.onnx" "not ONNX: field 7 has the wrong wire type"
printf '\010\377\377\377\377\377\377\377\377\377\377\001' >"$T/varint.onnx"
bad "varint over 10 bytes" "$T/varint.onnx" "not ONNX: varint longer than 10 bytes"
"$PY" - "$T" <<'EOF'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper as nh, TensorProto as TP
d = sys.argv[1]
def model(nodes, inits, ins=None, name="m.onnx"):
    g = helper.make_graph(nodes, "g", ins or [helper.make_tensor_value_info("x", TP.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TP.FLOAT, None)], inits)
    onnx.save(helper.make_model(g), d + "/" + name)
gemm = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
w = nh.from_array(np.ones((2, 4), np.float32), "w")
# dims whose product overflows
t = TP(); t.name = "w"; t.data_type = TP.FLOAT; t.dims.extend([1 << 40, 1 << 40])
model(gemm, [t], name="overflow.onnx")
# raw_data of the wrong length
t = nh.from_array(np.ones((2, 4), np.float32), "w"); t.raw_data = t.raw_data[:-4]
model(gemm, [t], name="rawlen.onnx")
# duplicate initializer names
model(gemm, [w, w], name="dup.onnx")
# external data outside the folder, and past the end of its file
t = nh.from_array(np.ones((2, 4), np.float32), "w"); t.ClearField("raw_data")
t.data_location = TP.EXTERNAL
for k, v in (("location", "../w.bin"), ("offset", "0"), ("length", "32")):
    e = t.external_data.add(); e.key = k; e.value = v
model(gemm, [t], name="outside.onnx")
t.external_data[0].value = "short.bin"
model(gemm, [t], name="pastend.onnx")
open(d + "/short.bin", "wb").write(b"\0" * 16)
# nested messages 1000 deep (graph attributes inside graph attributes)
# (written by hand: protobuf refuses to serialize messages that deep)
def field(num, payload):
    def varint(v):
        out = b""
        while v >= 0x80:
            out += bytes([v & 0x7f | 0x80]); v >>= 7
        return out + bytes([v])
    return varint(num << 3 | 2) + varint(len(payload)) + payload
inner = b""
for i in range(1000):
    inner = field(1, field(5, field(6, inner)))  # graph.node.attribute.g
open(d + "/deep.onnx", "wb").write(b"\x08\x08" + field(7, inner))
# a Gemm whose B is a graph input
model(gemm, [], ins=[helper.make_tensor_value_info("x", TP.FLOAT, [1, 4]),
                     helper.make_tensor_value_info("w", TP.FLOAT, [2, 4])], name="input_b.onnx")
# a name that is not text
model([helper.make_node("Gemm", ["x", "w"], ["y\x01"], transB=1)], [w], name="ctrl.onnx")
EOF
bad "dims overflow" "$T/overflow.onnx" "tensor 'w': the product of its dims overflows"
bad "raw_data of the wrong length" "$T/rawlen.onnx" "tensor 'w': 28 bytes of data for 8 elements of 4 bytes"
bad "duplicate initializers" "$T/dup.onnx" "duplicate tensor name 'w'"
bad "external data outside the folder" "$T/outside.onnx" "tensor 'w': location '../w.bin' must be a relative path inside the model's folder"
bad "external data past the end" "$T/pastend.onnx" "tensor 'w': external bytes 0..32 are past the end of 'short.bin'"
bad "1000-deep nesting" "$T/deep.onnx" "not ONNX: messages nested more than 100 deep"
bad "a name with a control character" "$T/ctrl.onnx" "node 0: a name is not valid text"
bad "Gemm B from a graph input" "$T/input_b.onnx" "node 0 \(Gemm\): its weight 'w' is a graph input, not a constant weight"
# an INT16 tensor with its values in float_data, which ONNX gives FLOAT
# only (carried, it could not be written to JSON or .spzm: found by
# fuzz_onnx, corpus regress_int16_in_float_data.onnx)
"$PY" - "$T/i16.onnx" <<'EOF2'
import sys
from onnx import helper, TensorProto as TP, save
t = TP(name="s", data_type=TP.INT16, dims=[2, 3], float_data=[1, 2, 3, 4, 5, 6])
g = helper.make_graph([helper.make_node("Identity", ["s"], ["y"])], "g", [],
                      [helper.make_tensor_value_info("y", TP.INT16, [2, 3])], [t])
save(helper.make_model(g), sys.argv[1])
EOF2
bad "INT16 in float_data" "$T/i16.onnx" "tensor 's': data_type 5 cannot be held in field 4"
done_testing
