#!/usr/bin/python3
"""make_models.py DIR - writes the ONNX test models of spz's CLI tests into
DIR with Debian's python3-onnx (onnx.helper), as exporters write them:

  mlp_t1.onnx       Gemm transB=1 (PyTorch nn.Linear), Relu, Gemm
  mlp_t0.onnx       Gemm transB=0, no C on the last layer
  matmul.onnx       MatMul + Add of a 1-D bias (3-D input exports)
  conv.onnx         Conv, Relu, Reshape (INT64 shape), Gemm
  flatten.onnx      Flatten before the first Gemm, unnamed nodes
  fp16.onnx         FLOAT16 weights (Cast at the input and output)
  external.onnx     weights in external data (external.data)
  constant.onnx     weights held by Constant nodes
  extras.onnx       doc strings, metadata, value_info, a string and a tensor
                    attribute, an If with subgraphs, float_data weights
Each file's inputs are named "input" with a fixed shape; run_ort.js feeds
them. Deterministic (seeded NumPy).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def rnd(rng, *shape):
    return (rng.standard_normal(shape) * 0.5).astype(np.float32)


def save(model, path, check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, path)


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def mlp(rng, trans_b, last_bias=True):
    w1 = rnd(rng, 32, 16) if trans_b else rnd(rng, 16, 32)
    w2 = rnd(rng, 8, 32) if trans_b else rnd(rng, 32, 8)
    inits = [numpy_helper.from_array(w1, "fc1.weight"),
             numpy_helper.from_array(rnd(rng, 32), "fc1.bias"),
             numpy_helper.from_array(w2, "fc2.weight")]
    ins2 = ["h1", "fc2.weight"]
    if last_bias:
        inits.append(numpy_helper.from_array(rnd(rng, 8), "fc2.bias"))
        ins2.append("fc2.bias")
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["g1"],
                         name="/fc1/Gemm", alpha=1.0, beta=1.0,
                         transB=trans_b),
        helper.make_node("Relu", ["g1"], ["h1"], name="/relu/Relu"),
        helper.make_node("Gemm", ins2, ["output"], name="/fc2/Gemm",
                         alpha=1.0, beta=1.0, transB=trans_b),
    ]
    g = helper.make_graph(nodes, "mlp", [vi("input", [4, 16])],
                          [vi("output", [4, 8])], inits)
    return helper.make_model(g, opset_imports=OPSET,
                             producer_name="pytorch",
                             producer_version="2.1.0")


def matmul(rng):
    inits = [numpy_helper.from_array(rnd(rng, 16, 24), "fc1.weight"),
             numpy_helper.from_array(rnd(rng, 24), "fc1.bias"),
             numpy_helper.from_array(rnd(rng, 24, 8), "fc2.weight"),
             numpy_helper.from_array(rnd(rng, 8), "fc2.bias")]
    nodes = [
        helper.make_node("MatMul", ["input", "fc1.weight"], ["m1"],
                         name="/fc1/MatMul"),
        helper.make_node("Add", ["m1", "fc1.bias"], ["a1"], name="/fc1/Add"),
        helper.make_node("Relu", ["a1"], ["h1"], name="/relu/Relu"),
        helper.make_node("MatMul", ["h1", "fc2.weight"], ["m2"],
                         name="/fc2/MatMul"),
        helper.make_node("Add", ["m2", "fc2.bias"], ["output"],
                         name="/fc2/Add"),
    ]
    g = helper.make_graph(nodes, "matmul", [vi("input", [2, 3, 16])],
                          [vi("output", [2, 3, 8])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def conv(rng):
    inits = [numpy_helper.from_array(rnd(rng, 8, 2, 3, 3), "conv.weight"),
             numpy_helper.from_array(rnd(rng, 8), "conv.bias"),
             numpy_helper.from_array(np.array([1, -1], dtype=np.int64),
                                     "shape"),
             numpy_helper.from_array(rnd(rng, 10, 8 * 6 * 6), "fc.weight"),
             numpy_helper.from_array(rnd(rng, 10), "fc.bias")]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"],
                         ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                         pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("Reshape", ["r", "shape"], ["flat"],
                         name="/Reshape"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"],
                         ["output"], name="/fc/Gemm", transB=1),
    ]
    g = helper.make_graph(nodes, "conv", [vi("input", [1, 2, 8, 8])],
                          [vi("output", [1, 10])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def flatten(rng):
    inits = [numpy_helper.from_array(rnd(rng, 12, 16), "fc1.weight"),
             numpy_helper.from_array(rnd(rng, 12), "fc1.bias"),
             numpy_helper.from_array(rnd(rng, 6, 12), "fc2.weight"),
             numpy_helper.from_array(rnd(rng, 6), "fc2.bias")]
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["g1"],
                         transB=1),
        helper.make_node("Relu", ["g1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "fc2.weight", "fc2.bias"],
                         ["output"], transB=1),
    ]
    g = helper.make_graph(nodes, "flatten", [vi("input", [1, 4, 4])],
                          [vi("output", [1, 6])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def fp16(rng):
    inits = [numpy_helper.from_array(rnd(rng, 16, 12).astype(np.float16),
                                     "fc1.weight"),
             numpy_helper.from_array(rnd(rng, 16).astype(np.float16),
                                     "fc1.bias"),
             numpy_helper.from_array(rnd(rng, 4, 16).astype(np.float16),
                                     "fc2.weight")]
    nodes = [
        helper.make_node("Cast", ["input"], ["x16"], to=TensorProto.FLOAT16),
        helper.make_node("Gemm", ["x16", "fc1.weight", "fc1.bias"], ["g1"],
                         name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["h1"], name="relu"),
        helper.make_node("Gemm", ["h1", "fc2.weight"], ["g2"], name="fc2",
                         transB=1),
        helper.make_node("Cast", ["g2"], ["output"], to=TensorProto.FLOAT),
    ]
    g = helper.make_graph(nodes, "fp16", [vi("input", [2, 12])],
                          [vi("output", [2, 4])], inits)
    return helper.make_model(g, opset_imports=OPSET)


def constant(rng):
    nodes = [
        helper.make_node("Constant", [], ["fc1.weight"], name="c1",
                         value=numpy_helper.from_array(rnd(rng, 12, 10),
                                                       "w1")),
        helper.make_node("Constant", [], ["fc1.bias"], name="c2",
                         value=numpy_helper.from_array(rnd(rng, 12), "b1")),
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"],
                         ["output"], name="fc1", transB=1),
    ]
    g = helper.make_graph(nodes, "constant", [vi("input", [3, 10])],
                          [vi("output", [3, 12])])
    return helper.make_model(g, opset_imports=OPSET)


def extras(rng):
    w = rnd(rng, 8, 6)
    wt = helper.make_tensor("fc.weight", TensorProto.FLOAT, [8, 6],
                            w.flatten().tolist())  # float_data
    wt.doc_string = "the weight"
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["y"], ["z1"])], "then", [],
        [vi("z1", [2, 8])])
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["y"], ["z2"])], "else", [],
        [vi("z2", [2, 8])])
    nodes = [
        helper.make_node("Gemm", ["input", "fc.weight"], ["y"], name="fc",
                         transB=1, doc_string="layer"),
        helper.make_node("ReduceSum", ["y"], ["s"], keepdims=0,
                         name="sum"),
        helper.make_node("Greater", ["s", "zero"], ["cond"], name="gt"),
        helper.make_node("If", ["cond"], ["output"], name="branch",
                         then_branch=then_g, else_branch=else_g),
    ]
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    g = helper.make_graph(nodes, "extras", [vi("input", [2, 6])],
                          [vi("output", [2, 8])], [wt, zero],
                          doc_string="graph doc",
                          value_info=[vi("y", [2, 8])])
    m = helper.make_model(g, opset_imports=OPSET, doc_string="model doc",
                          producer_name="hand")
    helper.set_model_props(m, {"author": "spz tests", "license": "MIT"})
    return m


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    save(mlp(rng, 1), os.path.join(out, "mlp_t1.onnx"))
    save(mlp(rng, 0, last_bias=False), os.path.join(out, "mlp_t0.onnx"))
    save(matmul(rng), os.path.join(out, "matmul.onnx"))
    save(conv(rng), os.path.join(out, "conv.onnx"))
    save(flatten(rng), os.path.join(out, "flatten.onnx"))
    save(fp16(rng), os.path.join(out, "fp16.onnx"))
    save(constant(rng), os.path.join(out, "constant.onnx"))
    save(extras(rng), os.path.join(out, "extras.onnx"))
    ext = mlp(rng, 1)
    onnx.save_model(ext, os.path.join(out, "external.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.data", size_threshold=0)
    onnx.checker.check_model(os.path.join(out, "external.onnx"))


if __name__ == "__main__":
    main()
