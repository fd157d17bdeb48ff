"""The torch side of a text bundle: one module from token ids to what the bundle outputs.

:func:`build_module` loads the encoder from an unpacked bundle and wraps it so that
``forward(input_ids, attention_mask, token_type_ids)`` returns, by task:
pooled (and, for sentence-transformers models, L2-normalised) embeddings, or the
logits of a sequence classifier. The same module is run by the torch runtime,
exported to ONNX by the optimiser, and fine-tuned by the trainer, so the three
agree by construction. Imported only where torch is wanted (the ``text`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelbay.artifacts.bundle import Manifest
from modelbay.errors import ConfigError

__all__ = ["TextModule", "bf16_supported", "build_module", "device_for", "require_torch"]


def require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise ConfigError(
            "transformer models need the text extra: pip install 'modelbay[text]' "
            "(install torch first with `pip install torch==2.13.0` for the CPU build)"
        ) from exc
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return torch


def device_for(preferred: str | None = None) -> str:
    """``cuda`` when torch sees a GPU (or when asked), else ``cpu``."""
    torch = require_torch()
    if preferred:
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str) -> bool:
    """Whether bfloat16 matrix maths is native here (AVX512-BF16 or AMX on CPU; CUDA bf16)."""
    torch = require_torch()
    if device.startswith("cuda"):
        return bool(torch.cuda.is_bf16_supported())
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


def build_module(
    folder: Path, manifest: Manifest, *, for_training: bool = False, attention: str = "sdpa"
) -> Any:
    """The encoder in ``folder`` wrapped as a :class:`TextModule` (in eval mode).

    ``attention``: ``eager`` traces to an ONNX graph that is right for every shape (the
    exporter and the trainer use it); ``sdpa`` is torch's fused kernel, for serving.
    """
    torch = require_torch()
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "weights not initialised" for a new head is expected
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"attn_implementation": attention}
    if manifest.task == "text-classification" and manifest.head is None:
        labels = manifest.labels
        if labels:
            kwargs.update(
                num_labels=len(labels),
                id2label={i: str(v) for i, v in enumerate(labels)},
                label2id={str(v): i for i, v in enumerate(labels)},
            )
        encoder = AutoModelForSequenceClassification.from_pretrained(folder, **kwargs)
    else:
        encoder = AutoModel.from_pretrained(folder, **kwargs)
    module = TextModule.of(torch, encoder, manifest)
    encoder.float()  # bf16 bundles store half-width weights; maths runs under autocast
    return module.train(for_training) if for_training else module.eval()


class TextModule:
    """Factory for the wrapper class, made once torch is imported."""

    _cls: Any = None

    @classmethod
    def of(cls, torch: Any, encoder: Any, manifest: Manifest) -> Any:
        if cls._cls is None:
            cls._cls = _define(torch)
        return cls._cls(encoder, manifest)


def _define(torch: Any) -> Any:
    nn = torch.nn

    class _TextModule(nn.Module):  # type: ignore[name-defined]
        def __init__(self, encoder: Any, manifest: Manifest) -> None:
            super().__init__()
            self.encoder = encoder
            self.classify = manifest.task == "text-classification" and manifest.head is None
            self.pooling = manifest.pooling
            self.normalize = manifest.normalize
            self.uses_types = "token_type_ids" in _forward_args(encoder)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            extra = {"token_type_ids": token_type_ids} if self.uses_types else {}
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
            if self.classify:
                return out.logits
            hidden = out.last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            elif self.pooling == "max":
                pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
            return pooled

    return _TextModule


def _forward_args(encoder: Any) -> set[str]:
    import inspect

    return set(inspect.signature(encoder.forward).parameters)
