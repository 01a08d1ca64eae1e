"""Writes tests/data/no-signature.onnx: a valid ONNX graph without an edgernn signature.

Run with the train extra installed: python tests/data/make_no_signature.py
"""

from pathlib import Path

import onnx
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 2])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 2])
graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, Path(__file__).with_name("no-signature.onnx"))
