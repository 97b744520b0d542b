#!/usr/bin/python3
"""compare_unpacked.py QUANTIZED.onnx UNPACKED.onnx - the model spz unpack
rebuilt from an EIE image against the quantized model it was packed from:
the same nodes (op, name, inputs, outputs, transB) once the palettized
weights (NAME.codes, NAME.codebook, Cast + Gather) are read back, the
same zero pattern, and every weight and bias within the 16-bit fixed
point EIE stores (2^-12 of the largest magnitude). Exit 1 with what
differs.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def weights_and_nodes(path):
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    vals, nodes = dict(inits), []
    for n in m.graph.node:
        if n.op_type == "Cast" and n.input[0].endswith(".codes") \
                and n.input[0] in inits:
            vals[n.output[0]] = inits[n.input[0]].astype(np.int64)
            continue
        if n.op_type == "Gather" and n.input[0].endswith(".codebook"):
            vals[n.output[0]] = inits[n.input[0]][vals[n.input[1]]]
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a)
                 for a in n.attribute}
        tb = attrs.get("transB", 0) if n.op_type == "Gemm" else None
        extra = attrs.get("axis") if n.op_type == "Flatten" else None
        nodes.append((n.op_type, n.name, list(n.input), list(n.output), tb,
                      extra))
    used = {i for n in nodes for i in n[2]}
    return {k: v for k, v in vals.items() if k in used}, nodes, \
        [i.name for i in m.graph.input], [o.name for o in m.graph.output]


def main():
    qw, qn, qi, qo = weights_and_nodes(sys.argv[1])
    uw, un, ui, uo = weights_and_nodes(sys.argv[2])
    bad = []
    if qn != un:
        bad.append("nodes differ:\n  %s\n  %s" % (qn, un))
    if (qi, qo) != (ui, uo):
        bad.append("graph inputs/outputs differ: %s %s" % ((qi, qo), (ui, uo)))
    if sorted(qw) != sorted(uw):
        bad.append("weights differ: %s vs %s" % (sorted(qw), sorted(uw)))
    for k in sorted(set(qw) & set(uw)):
        a, b = qw[k], uw[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            bad.append("%s: %s %s vs %s %s" % (k, a.shape, a.dtype, b.shape,
                                                b.dtype))
            continue
        if a.dtype != np.float32:
            if not np.array_equal(a, b):
                bad.append("%s differs" % k)
            continue
        if not np.array_equal(a == 0, b == 0):
            bad.append("%s: zero pattern differs" % k)
        tol = max(np.abs(a).max(), 1e-30) * 2.0 ** -12
        if np.abs(a - b).max() > tol:
            bad.append("%s: max difference %g > %g" % (
                k, np.abs(a - b).max(), tol))
    if bad:
        print("\n".join(bad))
        sys.exit(1)
    print("%d nodes, %d tensors equal" % (len(un), len(uw)))


if __name__ == "__main__":
    main()
