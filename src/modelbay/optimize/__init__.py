"""Optimisation: compile models to faster forms, always gated by a measured parity check."""

from modelbay.optimize.onnx import Compiled, compile_sklearn

__all__ = ["Compiled", "compile_sklearn"]
