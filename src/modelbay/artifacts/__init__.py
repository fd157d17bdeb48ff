"""The bottom layer: what a model artifact is, byte for byte, with no storage and no runtime.

- :mod:`~modelbay.artifacts.pickles`: recognising pickles, which modelbay never loads.
- :mod:`~modelbay.artifacts.formats`: the serializer registry (skops with its trust list,
  ONNX, text bundles): how a model object becomes artifact bytes and back.
- :mod:`~modelbay.artifacts.bundle`: the file layout of a transformer text bundle.
- :mod:`~modelbay.artifacts.inputs`: what a stored model takes in (shared column names, the
  rows a fitted scikit-learn estimator wants).

Everything above (data, train, registry, optimize, serve, ...) may import this package; it
imports nothing of modelbay but :mod:`modelbay.errors` (the import-linter contract in
pyproject.toml holds it there). Heavy libraries (skops) are imported only when used.
"""
