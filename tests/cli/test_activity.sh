#!/bin/sh
# test_activity.sh - spz eval --activity-out: the per-position zero masks
# of every layer's input, checked against activations computed with NumPy
# (direct convolution loops) on a small Conv model built with onnx, read
# back by spz report --activity on an MLP, Cnvlutin's cycles on a
# Fashion-MNIST CNN against NumPy, and the error paths.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
cat >"$T/mk.py" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(4)
w1 = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
b1 = rng.standard_normal(4).astype(np.float32) * 0.5
w2 = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
b2 = rng.standard_normal(3).astype(np.float32) * 0.5
w3 = rng.standard_normal((5, 3 * 4 * 4)).astype(np.float32)
b3 = np.zeros(5, np.float32)
nodes = [
    helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("Flatten", ["r2"], ["f"], name="flat", axis=1),
    helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
]
inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (w3, "w3"), (b3, "b3"))]
g = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
x = rng.standard_normal((7, 1, 6, 6)).astype(np.float32)
x[x < -0.5] = 0  # exact zeros in the input too
np.save(sys.argv[2], x)
np.savez(sys.argv[3], w1=w1, b1=b1, w2=w2, b2=b2)
PYEOF
cat >"$T/check.py" <<'PYEOF'
# check.py ACT X.npy W.npz: the mask file against activations computed
# with NumPy (direct convolution loops, independent of spz).
import struct, sys, zlib, numpy as np
data = open(sys.argv[1], "rb").read()
x = np.load(sys.argv[2]); w = np.load(sys.argv[3])
assert data[:8] == b"SPZACT\r\n"
ver, flags, L, N = struct.unpack_from("<HHII", data, 8)
assert (ver, flags) == (1, 0) and zlib.crc32(data[:20]) == struct.unpack_from("<I", data, 20)[0]
at, layers = 24, {}
for _ in range(L):
    start = at
    (n,) = struct.unpack_from("<H", data, at); at += 2
    name = data[at:at + n].decode(); at += n
    c, h, ww = struct.unpack_from("<III", data, at); at += 12
    per = (c * h * ww + 7) // 8
    bits = np.frombuffer(data, np.uint8, N * per, at).reshape(N, per); at += N * per
    assert zlib.crc32(data[start:at]) == struct.unpack_from("<I", data, at)[0]; at += 4
    layers[name] = ((c, h, ww), np.unpackbits(bits, axis=1, bitorder="little")[:, :c * h * ww])
assert at == len(data)
def conv(a, k, b, pad):
    a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, ci, H, W = a.shape; co, _, kh, kw = k.shape
    out = np.zeros((n, co, H - kh + 1, W - kw + 1), np.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.einsum("ncij,ocij->no", a[:, :, i:i + kh, j:j + kw], k)
    return out + b[None, :, None, None]
r1 = np.maximum(conv(x.astype(np.float64), w["w1"], w["b1"], 1), 0)
r2 = np.maximum(conv(r1, w["w2"], w["b2"], 0), 0)
want = {"conv1": x, "conv2": r1, "fc": r2.reshape(len(x), -1)}
shapes = {"conv1": (1, 6, 6), "conv2": (4, 6, 6), "fc": (48, 1, 1)}
assert N == len(x) and sorted(layers) == sorted(want), (N, list(layers))
for k, a in want.items():
    shape, m = layers[k]
    assert shape == shapes[k], (k, shape)
    # Values within 1e-4 of 0 could round either way: skip them.
    a = a.reshape(N, -1); sure = np.abs(a) > 1e-4
    sure |= a == 0
    assert (m[sure] == (a[sure] != 0)).all(), k
print("masks match", {k: int(v[1].sum()) for k, v in layers.items()})
PYEOF

$PY "$T/mk.py" "$T/conv.onnx" "$T/x.npy" "$T/w.npz"
run eval "$T/conv.onnx" --x "$T/x.npy" --activity-out "$T/a.act"
expect_rc 0 "eval --activity-out on a Conv model"
check "the masks match NumPy's activations" $PY "$T/check.py" "$T/a.act" "$T/x.npy" "$T/w.npz"
run eval "$T/conv.onnx" --x "$T/x.npy" --limit 3 --activity-out "$T/a3.act"
expect_rc 0 "--limit 3"
size3=$(wc -c <"$T/a3.act"); size7=$(wc -c <"$T/a.act")
if [ "$size3" -lt "$size7" ]; then ok "--limit: fewer samples recorded"; else notok "--limit: fewer samples recorded" "$size3 vs $size7"; fi

# An MLP: report --activity reads what eval wrote, density for density.
"$SPZ" gen mlp --dims 16,8,4 --seed 1 -o "$T/m.json" >/dev/null
$PY -c 'import numpy as np, sys
r = np.random.default_rng(1); x = r.standard_normal((9, 16)).astype(np.float32)
x[x < 0] = 0; np.save(sys.argv[1], x)' "$T/mx.npy"
run eval "$T/m.json" --x "$T/mx.npy" --activity-out "$T/m.act" --json
expect_rc 0 "eval an MLP with --activity-out"
printf '%s\n' "$out" | $PY -c 'import json,sys; print(" ".join(repr(l["act_density_in"]) for l in json.load(sys.stdin)["layers"]))' >"$T/d1"
run report "$T/m.json" --bits 4 --activity "$T/m.act" --json
expect_rc 0 "report --activity reads the file"
printf '%s\n' "$out" | $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["activity_samples"] == 9; print(" ".join(repr(l["act_density"]) for l in j["layers"]))' >"$T/d2"
check "report: the densities eval measured" cmp "$T/d1" "$T/d2"

# End to end on a CNN and real data (issue 15): a 28x28 Fashion-MNIST
# conv net (Conv+Relu+MaxPool twice, a strided Conv over 32 channels,
# Flatten, Gemm) built with onnx, its masks measured by spz eval, its
# Cnvlutin cycles from spz report against the same rule computed in NumPy
# on activations NumPy computes itself (the graph input has a symbolic
# batch dim, as exporters write it).
DATA=${SPZ_DATA:-/usr/share/datasets/fashion-mnist}
cat >"$T/mkcnn.py" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(15)
def he(*s):
    fan = int(np.prod(s[1:]))
    return (rng.standard_normal(s) * np.sqrt(2.0 / fan)).astype(np.float32)
w = {"w1": he(16, 1, 3, 3), "w2": he(32, 16, 3, 3), "w3": he(16, 32, 3, 3), "w4": he(10, 256)}
w["b1"] = (rng.standard_normal(16) * 0.1).astype(np.float32)
w["b2"] = (rng.standard_normal(32) * 0.1 - 0.05).astype(np.float32)
w["b3"] = (rng.standard_normal(16) * 0.1 - 0.1).astype(np.float32)
w["b4"] = np.zeros(10, np.float32)
N = helper.make_node
nodes = [
    N("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    N("Relu", ["c1"], ["r1"], name="relu1"),
    N("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    N("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    N("Relu", ["c2"], ["r2"], name="relu2"),
    N("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
    N("Conv", ["p2", "w3", "b3"], ["c3"], name="conv3", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
    N("Relu", ["c3"], ["r3"], name="relu3"),
    N("Flatten", ["r3"], ["f"], name="flat", axis=1),
    N("Gemm", ["f", "w4", "b4"], ["y"], name="fc", transB=1),
]
g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
                      [numpy_helper.from_array(v, k) for k, v in sorted(w.items())])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PYEOF
cat >"$T/cnvcheck.py" <<'PYEOF'
# cnvcheck.py MODEL.onnx DATA_DIR N REPORT.json: the Cnvlutin and
# DaDianNao cycles of every conv layer of MODEL on the first N test images
# of DATA_DIR, from activations computed here with NumPy (direct
# convolution, ReLU, max pooling) and the cycle rule of REFERENCE.md /
# spz-report(1) (16 units x 16 neuron lanes x 16 filter lanes, bricks of
# 16 channels, brick t of a window to lane t mod 16, a window costs its
# slowest lane, at least one cycle, c_in < 16 runs dense), against
# `spz report --json`. Inputs within 1e-5 of zero may round either way
# in float32: the cycles are then bracketed by counting them as zeros and
# as non-zeros (the cycles only grow with the non-zeros).
import gzip, json, sys, numpy as np, onnx
from onnx import numpy_helper
LANES = UNITS = FILTERS = 16
m = onnx.load(sys.argv[1]); n = int(sys.argv[3])
W = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
raw = gzip.open(sys.argv[2] + "/t10k-images-idx3-ubyte.gz").read()
assert int.from_bytes(raw[:4], "big") == 0x803
x = np.frombuffer(raw, np.uint8, n * 784, 16).reshape(n, 1, 28, 28) / 255.0
def attr(node, k, d):
    for a in node.attribute:
        if a.name == k:
            return list(a.ints)
    return d
def conv(a, k, b, s, p):
    a = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)))
    co, ci, kh, kw = k.shape
    ho = (a.shape[2] - kh) // s + 1; wo = (a.shape[3] - kw) // s + 1
    out = np.zeros((a.shape[0], co, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = np.einsum("ncij,ocij->no", a[:, :, i * s:i * s + kh, j * s:j * s + kw], k)
    return out + b[None, :, None, None]
def cycles(mask, co, k, s, p):
    """DaDianNao and mean Cnvlutin cycles of one layer, mask [n, c, h, w]."""
    n_, c, h, w = mask.shape
    ho = (h + 2 * p - k) // s + 1; wo = (w + 2 * p - k) // s + 1
    nb = -(-c // LANES); passes = -(-co // (UNITS * FILTERS))
    base = passes * ho * wo * k * k * nb
    if c < LANES:
        return base, float(base)
    # non-zeros per brick: [n, h, w, nb]
    pad = np.zeros((n_, nb * LANES, h, w), np.int64); pad[:, :c] = mask
    nz = pad.reshape(n_, nb, LANES, h, w).sum(axis=2).transpose(0, 2, 3, 1)
    total = 0
    for q in range(n_):
        for oy in range(ho):
            for ox in range(wo):
                lane = [0] * LANES; t = 0
                for ky in range(k):
                    for kx in range(k):
                        y, xx = oy * s - p + ky, ox * s - p + kx
                        for b in range(nb):
                            if 0 <= y < h and 0 <= xx < w:
                                lane[t % LANES] += int(nz[q, y, xx, b])
                            t += 1
                total += max(1, max(lane))
    return base, passes * total / n_
vals = {"x": x}; want = {}
for node in m.graph.node:
    i = [vals.get(v) for v in node.input]
    if node.op_type == "Conv":
        k = W[node.input[1]]; s = attr(node, "strides", [1])[0]; p = attr(node, "pads", [0])[0]
        a = i[0]
        lo = cycles(np.abs(a) > 1e-5, k.shape[0], k.shape[2], s, p)
        hi = cycles(a != 0, k.shape[0], k.shape[2], s, p)
        want[node.name] = (lo, hi, int((a != 0).sum()), a.size)
        y = conv(a, k, W[node.input[2]], s, p)
    elif node.op_type == "Relu":
        y = np.maximum(i[0], 0)
    elif node.op_type == "MaxPool":
        a = i[0]; y = a.reshape(a.shape[0], a.shape[1], a.shape[2] // 2, 2, a.shape[3] // 2, 2).max(axis=(3, 5))
    elif node.op_type == "Flatten":
        y = i[0].reshape(len(i[0]), -1)
    elif node.op_type == "Gemm":
        y = i[0] @ W[node.input[1]].T + W[node.input[2]]
    vals[node.output[0]] = y
j = json.load(open(sys.argv[4]))
got = {c["name"]: c["designs"]["cnvlutin"] for c in j["conv_layers"]}
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
out = []
for name, ((b0, lo), (b1, hi), nzs, size) in want.items():
    g = got[name]
    assert b0 == b1 == g["baseline_cycles"], (name, b0, g["baseline_cycles"])
    assert lo - 1e-9 <= g["cycles"] <= hi + 1e-9, (name, lo, hi, g["cycles"])
    out.append("%s %d/%s%s" % (name, b0, g["cycles"], "" if lo == hi else " (%s..%s)" % (lo, hi)))
# the total of the designs table: the conv layers plus the fc layer
print("; ".join(out))
PYEOF
$PY "$T/mkcnn.py" "$T/cnn.onnx"
run eval "$T/cnn.onnx" --data "$DATA" --limit 20 --activity-out "$T/cnn.act"
expect_rc 0 "eval of the CNN on 20 Fashion-MNIST images, --activity-out"
run report "$T/cnn.onnx" --bits 4 --arch cnvlutin --activity "$T/cnn.act" --json
expect_rc 0 "report --arch cnvlutin --activity on the CNN"
printf '%s\n' "$out" >"$T/cnn.json"
if got=$($PY "$T/cnvcheck.py" "$T/cnn.onnx" "$DATA" 20 "$T/cnn.json" 2>&1); then
	ok "CNN: DaDianNao/Cnvlutin cycles as NumPy computes them ($got)"
else
	notok "CNN: Cnvlutin cycles as NumPy computes them" "$got"
fi
run report "$T/cnn.onnx" --bits 4 --arch cnvlutin --activity "$T/cnn.act"
expect_out "^conv3 +cnvlutin +19[0-9] " "text: conv3 from the measured zeros, not dense (288)"
expect_out "conv shapes from the graph input" "the symbolic batch dim does not hide the sample shape"
run report "$T/cnn.onnx" --bits 4 --arch cnvlutin
expect_out "^conv3 +cnvlutin +320 " "without --activity: every neuron non-zero (density 1)"

# The "not EIE" list in every output form, the same nodes and figures.
for form in text markdown csv json; do
	case $form in text) fl= ;; *) fl=--$form ;; esac
	"$SPZ" report "$T/cnn.onnx" --bits 4 --activity "$T/cnn.act" $fl >"$T/ne.$form" 2>/dev/null
done
if got=$($PY - "$T/ne" <<'PYEOF' 2>&1
import csv, json, re, sys
b = sys.argv[1]
j = json.load(open(b + ".json"))
want = [(x["node"], x["op"], x["weights"], x["nonzeros"], x["bytes"], x["macs_dense"], x["macs_sparse"]) for x in j["not_eie"]]
assert all(x["bytes"] == (x["storage_bits"] + 7) // 8 for x in j["not_eie"])
assert [w[0] for w in want] == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "flat"], want
def rows(lines, split):
    return [tuple(v if i < 2 else int(v) for i, v in enumerate(split(l)[:7])) for l in lines]
t = open(b + ".text").read().split("\n")
k = t.index("not EIE (EIE runs fully connected layers only): storage and MACs")
text = rows([l for l in t[k + 2:k + 2 + len(want)]], lambda l: l.split())
md = [l for l in open(b + ".markdown").read().split("\n") if l.endswith("| not EIE |")]
mdr = rows(md, lambda l: [c.strip() for c in l.strip("|").split("|")])
r = list(csv.reader(open(b + ".csv")))
h = r[0]
assert len({len(x) for x in r}) == 1, "ragged csv"
assert r[-1][0] == "total" and r[1][h.index("eie")] == "yes" and r[-1][h.index("eie")] == ""
ne = [x for x in r[1:] if x[h.index("eie")] == "no"]
cs = [(x[0], x[h.index("op")], int(x[h.index("weights")]), int(x[h.index("nonzeros")]), int(x[h.index("bytes")]),
       int(x[h.index("macs_dense")]), int(x[h.index("macs_sparse")])) for x in ne]
for name, got in (("text", text), ("markdown", mdr), ("csv", cs)):
    assert got == want, (name, got, want)
conv = {c["name"]: c["designs"]["cnvlutin"] for c in j["conv_layers"]}
for x in ne:
    if x[0] in conv:
        assert float(x[h.index("cnvlutin_cycles")]) == conv[x[0]]["cycles"], x[0]
        assert int(x[h.index("conv_c_in")]) == [y for y in j["not_eie"] if y["node"] == x[0]][0]["shape"]["c_in"]
    else:
        assert x[h.index("cnvlutin_cycles")] == "" and x[h.index("conv_c_in")] == ""
# conv_layers carry the same design objects as the layers: tc24's GEMM
# (flops = 2 c_out (c_in kh kw) (h_out w_out) at batch 1) and its sweep.
for c in j["conv_layers"]:
    sh = [y for y in j["not_eie"] if y["node"] == c["name"]][0]["shape"]
    ho = (sh["h"] + 2 * sh["pad"] - sh["kh"]) // sh["stride"] + 1
    wo = (sh["w"] + 2 * sh["pad"] - sh["kw"]) // sh["stride"] + 1
    t = c["designs"]["tc24"]
    assert t["flops"] == 2 * sh["c_out"] * sh["c_in"] * sh["kh"] * sh["kw"] * ho * wo, c["name"]
    assert len(t["sweep"]) == 13 and "dense_first" in c["designs"]["cnvlutin"]
print(len(want), "nodes")
PYEOF
); then
	ok "not EIE: the same $got in text, markdown, csv and json, conv designs in csv"
else
	notok "not EIE: the same nodes in every form" "$got"
fi

# Errors: an EIE image (usage), an unwritable path (no file left).
"$SPZ" quantize "$T/m.json" --bits 4 -o "$T/mq.json" >/dev/null 2>&1
"$SPZ" pack "$T/mq.json" --pes 2 -o "$T/m.eie" >/dev/null
run eval "$T/m.eie" --x "$T/mx.npy" --activity-out "$T/i.act"
expect_rc 2 "--activity-out on an image is a usage error"; expect_one_line "image: one line"
expect_no_file "$T/i.act" "image: no file"
run eval "$T/m.json" --x "$T/mx.npy" --activity-out "$T/no/such/dir/m.act"
expect_rc 1 "unwritable --activity-out"; expect_err "cannot write" "unwritable: says so"
done_testing
