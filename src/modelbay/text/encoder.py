"""Run a text bundle: tokenize, group by length, forward (torch or ONNX Runtime), pool.

:class:`TextModel` is what the server, the trainer and the optimiser's quality
gates call. ``run(texts)`` tokenizes every text (the fast Rust tokenizer,
truncating at the bundle's token limit), sorts them by token count and cuts the
sorted list into forward passes of at most ``chunk`` texts where padding costs
least (:func:`length_groups`), each padded only to its own longest member: texts
of similar length share a pass, however the batcher mixed them. Results come back
in the callers' order.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelbay.artifacts.bundle import Manifest, TextBundle
from modelbay.artifacts.formats import SkopsFormat
from modelbay.artifacts.inputs import feature_names, model_input
from modelbay.errors import ModelbayError, SchemaError

__all__ = ["TextModel", "TextResult", "length_groups", "torch_thread"]

CHUNK = 64  # texts per forward pass at most (measured: 64 beat 32 by ~10% on MiniLM here)
OVERHEAD_TOKENS = 64  # a forward pass's fixed cost, in padded tokens (measured on MiniLM here)
_TORCH: list[ThreadPoolExecutor] = []
_TORCH_LOCK = threading.Lock()


def torch_thread() -> ThreadPoolExecutor:
    """The one thread of this process that runs torch models.

    torch's OpenMP pool belongs to the thread that starts a parallel region: a second
    calling thread builds a second team, and the two slowed each other down here by
    half (1-sentence forwards at 80/s instead of 170/s). Every load and forward of a
    torch text model is therefore handed to this one thread, made on first use.
    """
    with _TORCH_LOCK:
        if not _TORCH:
            _TORCH.append(ThreadPoolExecutor(1, thread_name_prefix="modelbay-torch"))
        return _TORCH[0]


@dataclass
class TextResult:
    values: np.ndarray  # (n, dim) float32: embeddings, or class probabilities
    tokens: np.ndarray  # (n,) int64 tokens each text was run with (after truncation)
    truncated: np.ndarray  # (n,) bool: the text was longer than the token limit


class TextModel:
    """``TextModel(bundle).load()``; then ``run(texts)``. Torch or ONNX, by the manifest."""

    def __init__(
        self,
        bundle: TextBundle,
        *,
        threads: int | None = None,
        device: str | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self.bundle = bundle
        self.manifest: Manifest = bundle.manifest
        self.threads = threads or os.cpu_count() or 1
        self.device = device
        self.chunk = max(1, chunk)
        self.loaded = False

    # -- loading ------------------------------------------------------------------------------
    def load_tokenizer(self) -> TextModel:
        """Only the tokenizer (for :meth:`tokenize` and :meth:`pad`): what a trainer needs."""
        from tokenizers import Tokenizer

        files = self.bundle.files
        if "tokenizer.json" in files:
            tok = Tokenizer.from_str(files["tokenizer.json"].decode())
        else:  # a vocab.txt-only (WordPiece) model: let transformers build the fast one
            from transformers import AutoTokenizer

            with self.bundle.unpacked() as folder:
                tok = AutoTokenizer.from_pretrained(folder).backend_tokenizer
        tok.no_padding()
        tok.enable_truncation(max_length=self.manifest.max_tokens)
        self.tokenizer_ = tok
        self.pad_id_ = int(_pad_id(tok))
        return self

    def load(self) -> TextModel:
        self.load_tokenizer()
        if self.manifest.engine == "onnx":
            self._load_onnx()
        else:
            with self.bundle.unpacked() as folder:
                torch_thread().submit(self._load_torch, folder).result()
        files = self.bundle.files
        if self.manifest.head:
            self.head_ = SkopsFormat().loads(files[self.manifest.head])
        self.loaded = True
        return self

    def _load_torch(self, folder: Any) -> None:
        from modelbay.text.torchmodel import bf16_supported, build_module, device_for

        torch = __import__("torch")
        self.device_ = device_for(self.device)
        if self.device_ == "cpu":
            torch.set_num_threads(self.threads)
        self.bf16_ = self.manifest.dtype == "bfloat16"
        if self.bf16_ and not bf16_supported(self.device_):
            raise ModelbayError(
                "this version runs in bfloat16, which this machine's "
                f"{self.device_.upper()} does not support natively; serve its parent instead"
            )
        self.module_ = build_module(folder, self.manifest).to(self.device_)
        self.engine_ = "torch"

    def _load_onnx(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        available = ort.get_available_providers()
        providers = [
            p for p in ("CUDAExecutionProvider",) if p in available and self.device != "cpu"
        ]
        self.session_ = ort.InferenceSession(
            self.bundle.files["model.onnx"], options, providers=[*providers, "CPUExecutionProvider"]
        )
        self.onnx_inputs_ = {i.name for i in self.session_.get_inputs()}
        self.engine_ = "onnx"

    def unload(self) -> None:
        for attr in ("module_", "session_", "head_", "tokenizer_"):
            self.__dict__.pop(attr, None)
        self.loaded = False

    # -- running ------------------------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> tuple[list[Any], np.ndarray, np.ndarray]:
        encodings = self.tokenizer_.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        truncated = np.fromiter(
            (bool(e.overflowing) for e in encodings), dtype=np.bool_, count=len(texts)
        )
        return encodings, lengths, truncated

    def run(self, texts: list[str]) -> TextResult:
        """Embeddings (embeddings task) or class probabilities, one row per text, in order."""
        if not self.loaded:
            raise ModelbayError("the text model is not loaded")
        if not texts:
            raise SchemaError("no texts to run")
        encodings, lengths, truncated = self.tokenize(texts)
        pooled = self._forward_grouped(encodings, lengths)
        return TextResult(self._finish(pooled), lengths, truncated)

    def embed(self, texts: list[str]) -> np.ndarray:
        """The encoder's pooled output (before any head): features for a head to learn on."""
        encodings, lengths, _ = self.tokenize(texts)
        return self._forward_grouped(encodings, lengths)

    def _forward_grouped(self, encodings: list[Any], lengths: np.ndarray) -> np.ndarray:
        order = np.argsort(lengths, kind="stable")
        out: np.ndarray | None = None
        for start, stop in length_groups(lengths[order], self.chunk):
            idx = order[start:stop]
            part = self._forward(*self._padded([encodings[i] for i in idx]))
            if out is None:
                out = np.empty((len(order), part.shape[1]), dtype=np.float32)
            out[idx] = part
        assert out is not None
        return out

    def pad(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token ids, attention mask and token types of ``texts``, padded to the longest."""
        return self._padded(self.tokenizer_.encode_batch(texts))

    def _padded(self, encodings: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id_, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        return ids, mask, types

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        if self.engine_ == "onnx":
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            feed = {k: v for k, v in feed.items() if k in self.onnx_inputs_}
            return np.asarray(self.session_.run(None, feed)[0], dtype=np.float32)
        return torch_thread().submit(self._torch_forward, ids, mask, types).result()

    def _torch_forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            args = [torch.from_numpy(a).to(self.device_) for a in (ids, mask, types)]
            if self.bf16_:
                with torch.autocast(self.device_.split(":")[0], dtype=torch.bfloat16):
                    result = self.module_(*args)
            else:
                result = self.module_(*args)
            return np.asarray(result.float().cpu().numpy(), dtype=np.float32)

    def _finish(self, pooled: np.ndarray) -> np.ndarray:
        if self.manifest.task == "embeddings":
            return pooled
        if self.manifest.head:
            x = model_input(self.head_, pooled, feature_names(pooled.shape[1]))
            return np.asarray(self.head_.predict_proba(x), dtype=np.float32)
        z = pooled - pooled.max(axis=1, keepdims=True)  # logits -> probabilities
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    @property
    def engine(self) -> str:
        name = getattr(self, "engine_", self.manifest.engine)
        return f"{name}-{self.manifest.dtype}" if self.manifest.dtype != "float32" else name


def length_groups(sorted_lengths: np.ndarray, most: int) -> list[tuple[int, int]]:
    """Cut texts sorted by token count into forward passes of at most ``most`` texts.

    Each pass costs its texts times its longest (the padding) plus a fixed cost per
    pass (``OVERHEAD_TOKENS``); the cuts minimise the total (dynamic programming).
    """
    n = len(sorted_lengths)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        starts = np.arange(max(0, j - most), j)
        costs = best[starts] + (j - starts) * float(sorted_lengths[j - 1]) + OVERHEAD_TOKENS
        k = int(np.argmin(costs))
        best[j], cut[j] = costs[k], starts[k]
    groups, j = [], n
    while j > 0:
        groups.append((int(cut[j]), j))
        j = int(cut[j])
    return groups[::-1]


def _pad_id(tok: Any) -> int:
    for token in ("[PAD]", "<pad>", "<|pad|>"):
        found = tok.token_to_id(token)
        if found is not None:
            return int(found)
    return 0
