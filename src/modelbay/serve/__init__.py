"""Serving: runtimes (scikit-learn, ONNX, text), the batcher, the deployment manager and the
data plane; no HTTP here. A serving process imports no training code (the import-linter
contract in pyproject.toml holds that, indirect imports included)."""
