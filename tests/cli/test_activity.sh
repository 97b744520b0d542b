#!/bin/sh
# test_activity.sh - spz eval --activity-out: the per-position zero masks
# of every layer's input, checked against activations computed with NumPy
# (direct convolution loops) on a small Conv model built with onnx, read
# back by spz report --activity on an MLP, and the error paths.
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

# Errors: an EIE image (usage), an unwritable path (no file left).
"$SPZ" quantize "$T/m.json" --bits 4 -o "$T/mq.json" >/dev/null 2>&1
"$SPZ" pack "$T/mq.json" --pes 2 -o "$T/m.eie" >/dev/null
run eval "$T/m.eie" --x "$T/mx.npy" --activity-out "$T/i.act"
expect_rc 2 "--activity-out on an image is a usage error"; expect_one_line "image: one line"
expect_no_file "$T/i.act" "image: no file"
run eval "$T/m.json" --x "$T/mx.npy" --activity-out "$T/no/such/dir/m.act"
expect_rc 1 "unwritable --activity-out"; expect_err "cannot write" "unwritable: says so"
done_testing
