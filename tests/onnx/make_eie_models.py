#!/usr/bin/python3
"""make_eie_models.py DIR - the exported graphs of spz's EIE tests
(tests/cli/test_eie_onnx.sh), written with Debian's python3-onnx as
PyTorch's exporter writes them:

  pt_gemm.onnx     Flatten, Gemm transB=1, Relu, Gemm transB=1 (nn.Linear
                   after nn.Flatten), every node unnamed; input [1, 1, 4, 4]
  pt_matmul.onnx   Reshape to [1, -1], MatMul, Add(bias, x) as exports of
                   3-D Linear write it, Relu, MatMul, Add(x, bias);
                   input [1, 16]
  pt_gemm_t0.onnx  Gemm transB=0 with C, Relu, Gemm transB=0 without C
  conv16.onnx      Conv 32->8 3x3 pad 1, Relu, Flatten, Gemm; input
                   [1, 32, 6, 6] recorded in the graph
  conv16_noshape.onnx  the same with a symbolic input shape (N, C, H, W)
Deterministic (seeded NumPy).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def rnd(rng, *shape):
    return (rng.standard_normal(shape) * 0.5).astype(np.float32)


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)


def pt_gemm(rng):
    inits = [numpy_helper.from_array(rnd(rng, 12, 16), "fc1.weight"),
             numpy_helper.from_array(rnd(rng, 12), "fc1.bias"),
             numpy_helper.from_array(rnd(rng, 6, 12), "fc2.weight"),
             numpy_helper.from_array(rnd(rng, 6), "fc2.bias")]
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["g1"],
                         alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "fc2.weight", "fc2.bias"],
                         ["output"], alpha=1.0, beta=1.0, transB=1),
    ]
    g = helper.make_graph(nodes, "pt_gemm", [vi("input", [1, 1, 4, 4])],
                          [vi("output", [1, 6])], inits)
    return helper.make_model(g, opset_imports=OPSET, producer_name="pytorch")


def pt_matmul(rng):
    inits = [numpy_helper.from_array(np.array([1, -1], dtype=np.int64),
                                     "/Constant_output_0"),
             numpy_helper.from_array(rnd(rng, 16, 24), "onnx::MatMul_1"),
             numpy_helper.from_array(rnd(rng, 24), "fc1.bias"),
             numpy_helper.from_array(rnd(rng, 24, 8), "onnx::MatMul_2"),
             numpy_helper.from_array(rnd(rng, 8), "fc2.bias")]
    nodes = [
        helper.make_node("Reshape", ["input", "/Constant_output_0"],
                         ["flat"], name="/Reshape"),
        helper.make_node("MatMul", ["flat", "onnx::MatMul_1"], ["m1"],
                         name="/fc1/MatMul"),
        helper.make_node("Add", ["fc1.bias", "m1"], ["a1"],
                         name="/fc1/Add"),
        helper.make_node("Relu", ["a1"], ["h1"], name="/relu/Relu"),
        helper.make_node("MatMul", ["h1", "onnx::MatMul_2"], ["m2"],
                         name="/fc2/MatMul"),
        helper.make_node("Add", ["m2", "fc2.bias"], ["output"],
                         name="/fc2/Add"),
    ]
    g = helper.make_graph(nodes, "pt_matmul", [vi("input", [1, 16])],
                          [vi("output", [1, 8])], inits)
    return helper.make_model(g, opset_imports=OPSET, producer_name="pytorch")


def pt_gemm_t0(rng):
    inits = [numpy_helper.from_array(rnd(rng, 10, 14), "w1"),
             numpy_helper.from_array(rnd(rng, 14), "b1"),
             numpy_helper.from_array(rnd(rng, 14, 5), "w2")]
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["g1"], name="fc1"),
        helper.make_node("Relu", ["g1"], ["h1"], name="relu1"),
        helper.make_node("Gemm", ["h1", "w2"], ["output"], name="fc2"),
    ]
    g = helper.make_graph(nodes, "pt_gemm_t0", [vi("input", [1, 10])],
                          [vi("output", [1, 5])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def conv(rng, shape):
    inits = [numpy_helper.from_array(rnd(rng, 8, 32, 3, 3), "conv.weight"),
             numpy_helper.from_array(rnd(rng, 8), "conv.bias"),
             numpy_helper.from_array(rnd(rng, 10, 8 * 6 * 6), "fc.weight"),
             numpy_helper.from_array(rnd(rng, 10), "fc.bias")]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"],
                         ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("Flatten", ["r"], ["flat"], name="/Flatten",
                         axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"],
                         ["output"], name="/fc/Gemm", transB=1),
    ]
    g = helper.make_graph(nodes, "conv16", [vi("input", shape)],
                          [vi("output", [shape[0], 10])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(15)
    save(pt_gemm(rng), os.path.join(out, "pt_gemm.onnx"))
    save(pt_matmul(rng), os.path.join(out, "pt_matmul.onnx"))
    save(pt_gemm_t0(rng), os.path.join(out, "pt_gemm_t0.onnx"))
    save(conv(np.random.default_rng(16), [1, 32, 6, 6]),
         os.path.join(out, "conv16.onnx"))
    save(conv(np.random.default_rng(16), ["N", "C", "H", "W"]),
         os.path.join(out, "conv16_noshape.onnx"))


if __name__ == "__main__":
    main()
