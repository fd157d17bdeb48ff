"""Transformer text models: bundles (the artifact), the encoder that runs them, torch glue.

``bundle`` needs nothing beyond the standard library; ``encoder`` needs the
``tokenizers`` package and, by engine, torch or ONNX Runtime; ``torchmodel`` needs
the ``text`` extra. Training, optimisation and serving all run texts through
:class:`modelbay.text.encoder.TextModel`, so they see the same numbers.
"""
