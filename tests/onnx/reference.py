#!/usr/bin/python3
"""reference.py ORIG.onnx SPZ.onnx REF.onnx - the oracle's reference model:
ORIG's graph, untouched, with the weights spz wrote into SPZ.onnx put in
place of ORIG's (palettized weights dequantized here with NumPy,
codebook[codes], independently of spz's reader). Also checks SPZ.onnx with
onnx.checker and prints each weight's fraction of zeros.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper as nh


def values(m):
    vals = {t.name: nh.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    vals[n.output[0]] = nh.to_array(a.t)
    cast_src = {n.output[0]: n.input[0] for n in m.graph.node
                if n.op_type == "Cast"}
    for n in m.graph.node:
        if (n.op_type == "Gather" and n.input[1] in cast_src
                and cast_src[n.input[1]] in vals):
            codes = vals[cast_src[n.input[1]]].astype(np.int64)
            vals[n.output[0]] = vals[n.input[0]][codes]
    return vals


def main():
    orig = onnx.load(sys.argv[1])
    out = onnx.load(sys.argv[2])
    onnx.checker.check_model(out)
    vals = values(out)
    for t in orig.graph.initializer:
        old = nh.to_array(t)
        new = vals[t.name].astype(old.dtype)
        assert new.shape == old.shape, t.name
        t.CopyFrom(nh.from_array(new, t.name))
        if old.ndim >= 2:
            print("%s zeros %.4f" % (t.name, float(np.mean(new == 0))))
    for n in orig.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and n.output[0] in vals:
                    old = nh.to_array(a.t)
                    a.t.CopyFrom(nh.from_array(
                        vals[n.output[0]].astype(old.dtype), a.t.name))
    onnx.checker.check_model(orig)
    onnx.save(orig, sys.argv[3])


if __name__ == "__main__":
    main()
