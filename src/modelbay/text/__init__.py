"""The text runtime: what runs a transformer bundle, for training, optimisation and serving.

``encoder`` needs the ``tokenizers`` package and, by engine, torch or ONNX Runtime;
``torchmodel`` needs the ``text`` extra; ``samples`` makes small text sets. Training,
optimisation and serving all run texts through :class:`modelbay.text.encoder.TextModel`,
so they see the same numbers. The bundle itself (the artifact's file layout) is
:mod:`modelbay.artifacts.bundle`; registering one is :mod:`modelbay.optimize.text_import`.
This package sits below ``train`` and ``registry`` and imports neither.
"""
