"""Optimising transformer versions: ONNX export, int8 quantization, bf16, layer pruning.

Each method turns a version's bundle into a candidate bundle; the candidate is then
measured against its parent on held-out text and kept only if it passes its gate:

- embeddings: mean cosine similarity to the parent's vectors >= 0.99, and the
  Spearman rank correlation of all pairwise similarities >= 0.98 (neighbours stay
  neighbours);
- classifiers: accuracy on labelled held-out text at most 1 point below the parent's.

The report gives the numbers, the speed-up (same texts, same threads, batch 32)
and the size ratio. Methods:

``onnx``           the same module traced to an ONNX graph (fp32), run by ONNX Runtime
``int8``           ``onnx`` then dynamic int8 quantization of the weights, per channel
``int8-per-tensor`` the same with one scale per tensor (cheaper, and usually too lossy)
``bf16``           bfloat16 weights (half the size), maths under bf16 autocast; only
                   where the CPU (AVX512-BF16 / AMX) or GPU does bf16 natively
``prune``          drop encoder layers, keeping ``keep_layers`` spread evenly
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelbay.artifacts.bundle import TextBundle
from modelbay.errors import ValidationError
from modelbay.text.encoder import TextModel

__all__ = ["GATES", "TEXT_METHODS", "GateResult", "candidate", "measure"]

TEXT_METHODS = ("onnx", "int8", "int8-per-tensor", "bf16", "prune")
GATES = {"mean_cosine": 0.99, "rank_correlation": 0.98, "accuracy_drop": 0.01}
OPSET = 17


@dataclass
class GateResult:
    passed: bool
    metrics: dict[str, float]
    thresholds: dict[str, float]
    speedup: float
    size_ratio: float
    seconds: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- making candidates -------------------------------------------------------------------------
def candidate(bundle: TextBundle, method: str, *, keep_layers: int | None = None) -> TextBundle:
    """The bundle ``method`` makes of ``bundle`` (not yet measured)."""
    m = bundle.manifest
    if method not in TEXT_METHODS:
        raise ValidationError(f"method {method!r} is not one of: {', '.join(TEXT_METHODS)}")
    if method in ("onnx", "bf16", "prune") and (m.engine != "torch" or m.dtype != "float32"):
        raise ValidationError(
            f"{method} starts from an fp32 torch version; this one is {m.engine} {m.dtype}"
        )
    if method.startswith("int8") and m.dtype != "float32":
        raise ValidationError(f"int8 starts from an fp32 version; this one is {m.dtype}")
    if method == "bf16":
        return _bf16(bundle)
    if method == "prune":
        return _prune(bundle, keep_layers)
    graph = bundle.files["model.onnx"] if m.engine == "onnx" else export_onnx(bundle)
    if method == "onnx":
        return _onnx_bundle(bundle, graph, "float32")
    return _onnx_bundle(bundle, quantize(graph, per_channel=method == "int8"), "int8")


def _onnx_bundle(bundle: TextBundle, graph: bytes, dtype: str) -> TextBundle:
    manifest = bundle.manifest.but(engine="onnx", dtype=dtype)
    return bundle.with_files(manifest, {"model.onnx": graph}, drop=("model.safetensors",))


def export_onnx(bundle: TextBundle) -> bytes:
    """Trace the bundle's torch module (pooling and normalisation included) to ONNX."""
    import warnings

    from modelbay.text.torchmodel import build_module, require_torch

    torch = require_torch()
    tok = TextModel(bundle).load_tokenizer()
    with bundle.unpacked() as folder:
        module = build_module(folder, bundle.manifest, attention="eager")
    example = tuple(torch.from_numpy(a) for a in tok.pad(["an example", "a longer example text"]))
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    axes["token_type_ids"] = {0: "batch", 1: "tokens"}
    axes["output"] = {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        # the TorchScript exporter is deprecated but exact for these encoders; tracing
        # warnings are about shape constants that the dynamic axes above replace
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            buf,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def quantize(graph: bytes, *, per_channel: bool) -> bytes:
    """Dynamic int8 quantization of an ONNX graph's weights (activations stay float)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing": not for dynamic
    with tempfile.TemporaryDirectory(prefix="modelbay-q-") as d:
        src, dst = Path(d) / "in.onnx", Path(d) / "out.onnx"
        src.write_bytes(graph)
        quantize_dynamic(src, dst, per_channel=per_channel, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def _bf16(bundle: TextBundle) -> TextBundle:
    from safetensors.torch import load, save

    from modelbay.text.torchmodel import bf16_supported, device_for, require_torch

    torch = require_torch()
    device = device_for()
    if not bf16_supported(device):
        raise ValidationError(
            f"this {device.upper()} has no native bfloat16 (AVX512-BF16 or AMX on CPU): "
            "bf16 would be slower, not faster; try int8"
        )
    weights = load(bundle.files["model.safetensors"])
    half = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in weights.items()}
    return bundle.with_files(
        bundle.manifest.but(dtype="bfloat16"), {"model.safetensors": save(half)}
    )


def _prune(bundle: TextBundle, keep_layers: int | None) -> TextBundle:
    from modelbay.text.torchmodel import build_module, require_torch

    torch = require_torch()
    config = bundle.config
    total = int(config.get("num_hidden_layers", 0) or 0)
    keep_n = keep_layers if keep_layers is not None else max(1, total * 2 // 3)
    if not 1 <= keep_n < total:
        raise ValidationError(
            f"keep_layers must be between 1 and {total - 1} (the model has {total})"
        )
    keep = sorted({int(x) for x in np.rint(np.linspace(0, total - 1, keep_n))})
    with bundle.unpacked() as folder:
        module = build_module(folder, bundle.manifest)
    layers = _layer_list(module.encoder, total)
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    _replace_layers(module.encoder, layers, kept)
    module.encoder.config.num_hidden_layers = len(keep)
    with tempfile.TemporaryDirectory(prefix="modelbay-prune-") as d:
        module.encoder.save_pretrained(d, safe_serialization=True)
        files = {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file()}
    cfg = json.loads(files["config.json"])
    cfg["modelbay_pruned_from"] = {"layers": total, "kept": keep}
    files["config.json"] = json.dumps(cfg, indent=1).encode()
    return bundle.with_files(None, files)


def _layer_list(model: Any, total: int) -> Any:
    """The encoder's stack of transformer layers: the ModuleList as long as the config says."""
    import torch

    for _, child in model.named_modules():
        if isinstance(child, torch.nn.ModuleList) and len(child) == total:
            return child
    raise ValidationError(f"no stack of {total} layers found in this {type(model).__name__}")


def _replace_layers(model: Any, old: Any, new: Any) -> None:
    for _, parent in model.named_modules():
        for attr, child in list(parent.named_children()):
            if child is old:
                setattr(parent, attr, new)
                return


# -- measuring ---------------------------------------------------------------------------------
def measure(
    parent: TextBundle,
    cand: TextBundle,
    texts: list[str],
    labels: list[Any] | None = None,
) -> GateResult:
    """Run both on ``texts``; the gate for the task, the speed-up and the size ratio."""
    a, b = TextModel(parent).load(), TextModel(cand).load()
    try:
        ta, va = _timed(a, texts)
        tb, vb = _timed(b, texts)
    finally:
        a.unload()
        b.unload()
    speedup, size_ratio = ta / tb, cand.size / parent.size
    seconds = {"parent_s": ta, "candidate_s": tb}
    if parent.manifest.task == "embeddings":
        metrics = embedding_agreement(va, vb)
        thresholds = {k: GATES[k] for k in ("mean_cosine", "rank_correlation")}
        failed = [k for k, t in thresholds.items() if metrics[k] < t]
        reason = "; ".join(f"{k} {metrics[k]:.4f} < {thresholds[k]}" for k in failed)
        return GateResult(not failed, metrics, thresholds, speedup, size_ratio, seconds, reason)
    if labels is None:
        raise ValidationError(
            "a classifier's gate needs labelled held-out text: give data with a text and a "
            "label column (data=..., target=...)"
        )
    classes = np.asarray(parent.manifest.labels, dtype=object)
    y = np.asarray([str(v) for v in labels], dtype=object)
    acc_a = float((np.asarray([str(c) for c in classes[va.argmax(1)]]) == y).mean())
    acc_b = float((np.asarray([str(c) for c in classes[vb.argmax(1)]]) == y).mean())
    metrics = {
        "accuracy_parent": acc_a,
        "accuracy": acc_b,
        "accuracy_drop": acc_a - acc_b,
        "agreement": float((va.argmax(1) == vb.argmax(1)).mean()),
    }
    ok = metrics["accuracy_drop"] <= GATES["accuracy_drop"] + 1e-12
    reason = (
        "" if ok else f"accuracy drop {metrics['accuracy_drop']:.4f} > {GATES['accuracy_drop']}"
    )
    return GateResult(
        ok, metrics, {"accuracy_drop": GATES["accuracy_drop"]}, speedup, size_ratio, seconds, reason
    )


def embedding_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean cosine of paired vectors; Spearman correlation of all pairwise similarities."""
    from scipy.stats import spearmanr

    na = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    nb = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    cos = (na * nb).sum(axis=1)
    iu = np.triu_indices(len(a), k=1)
    rho = spearmanr((na @ na.T)[iu], (nb @ nb.T)[iu]).statistic
    return {
        "mean_cosine": float(cos.mean()),
        "min_cosine": float(cos.min()),
        "rank_correlation": float(rho),
    }


def _timed(model: TextModel, texts: list[str], repeats: int = 3) -> tuple[float, np.ndarray]:
    values = model.run(texts[:32]).values  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        values = model.run(texts).values
        best = min(best, time.perf_counter() - t0)
    return best, values
