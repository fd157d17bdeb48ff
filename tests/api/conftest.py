"""The serving fixtures, shared with tests/serve."""

from tests.serve.conftest import MODELS, serve_bay, serve_data, serve_home

__all__ = ["MODELS", "serve_bay", "serve_data", "serve_home"]
