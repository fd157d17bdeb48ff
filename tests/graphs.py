"""Small ONNX graphs built by hand (``onnx.helper``), for the tests of importing and serving
graphs as they are: several inputs of several types, named dynamic dimensions, a graph
that fails on a batch of two, a sequence output."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["broken", "masked_ids", "scaled_sum", "sequence_output", "two_classes"]


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def scaled_sum() -> bytes:
    """x FP32 [batch, 3] and flip BOOL [batch, 1] -> total FP32 [batch, 1] (the row sum,
    negated where flip), square FP32 [batch, 3]."""
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
        helper.make_node("Neg", ["s"], ["neg"]),
        helper.make_node("Where", ["flip", "neg", "s"], ["total"]),
        helper.make_node("Mul", ["x", "x"], ["square"]),
    ]
    graph = helper.make_graph(
        nodes,
        "scaled_sum",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("flip", TensorProto.BOOL, ["batch", 1]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("square", TensorProto.FLOAT, ["batch", 3]),
        ],
        [axes],
    )
    return _model(graph)


def masked_ids() -> bytes:
    """ids INT64 [batch, seq] * mask INT64 [batch, seq] -> kept INT64 [batch, seq]."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["ids", "mask"], ["kept"])],
        "masked_ids",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("kept", TensorProto.INT64, ["batch", "seq"])],
    )
    return _model(graph)


def two_classes() -> bytes:
    """x FP32 [batch, 2] -> scores FP32 [batch, 2] (the identity: the label is argmax x)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["scores"])],
        "two_classes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 2])],
    )
    return _model(graph)


def broken() -> bytes:
    """x FP32 [batch, 4] reshaped to [3, -1]: fails on any batch of two rows."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], np.array([3, -1]))
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, None])],
        [shape],
    )
    return _model(graph)


def sequence_output() -> bytes:
    """x FP32 [batch, 2] -> parts, a sequence of tensors (what a zipmap makes: not a tensor)."""
    graph = helper.make_graph(
        [helper.make_node("SequenceConstruct", ["x", "x"], ["parts"])],
        "sequence_output",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [
            helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, ["batch", 2]),
        ],
    )
    return _model(graph)
