"""Classifiers on text, built on a registered encoder: a frozen-embedding head, or fine-tuning.

``head``: the encoder embeds every text once; the existing search machinery
(:func:`modelbay.train.trainer.train_model`) fits and scores a scikit-learn head on
those vectors. Fast, and the encoder can be any registered variant (int8 ONNX too).

``finetune``: the encoder gets a sequence-classification head and every weight is
trained (AdamW, linear warm-up and decay), scored on a validation split after each
epoch; training stops when it has not improved for ``patience`` epochs, and the
best epoch's weights are kept. Both report holdout metrics on rows no step saw.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from modelbay.artifacts.bundle import TextBundle
from modelbay.artifacts.formats import SkopsFormat
from modelbay.artifacts.inputs import TEXT_COLUMN, feature_names
from modelbay.data.profile import profile_predictions, profile_texts
from modelbay.data.schema import infer_schema
from modelbay.errors import TrainingError, ValidationError
from modelbay.text.encoder import TextModel
from modelbay.train.trainer import Progress, TrainSpec, train_model

__all__ = ["TextResult", "TextSpec", "holdout_split", "train_text"]

METHODS = ("head", "finetune")


@dataclass(frozen=True)
class TextSpec:
    target: str
    text: str | None = None  # the text column; by default the dataset's one text column
    method: str = "head"  # head | finetune
    algorithm: str = "logistic_regression"  # head: any of the catalogue, or auto
    trials: int = 5  # head: search trials
    epochs: int = 3  # finetune
    learning_rate: float = 5e-5
    batch_size: int = 16
    patience: int = 1  # finetune: epochs without a better validation score before stopping
    val_size: float = 0.15  # finetune: share of the training rows used to pick the epoch
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValidationError(f"method {self.method!r} is not one of: {', '.join(METHODS)}")
        if self.trials < 1:
            raise ValidationError(
                f"trials must be at least 1, not {self.trials}: the head's search runs that "
                "many configurations (the default is 5)"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValidationError("epochs and batch size must be at least 1, patience 0 or more")
        if not 0.0 < self.test_size < 0.9 or not 0.0 < self.val_size < 0.5:
            raise ValidationError("test_size must be in (0, 0.9) and val_size in (0, 0.5)")
        if self.learning_rate <= 0:
            raise ValidationError("the learning rate must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TextResult:
    bundle: TextBundle
    holdout: dict[str, float | None]
    baseline: float  # accuracy of always answering the most frequent training label
    params: dict[str, Any]
    reference_stats: dict[str, Any]
    rows_train: int
    rows_test: int
    history: list[dict[str, float]] = field(default_factory=list)  # finetune: per epoch
    timings: dict[str, float] = field(default_factory=dict)


def _columns(df: pd.DataFrame, spec: TextSpec) -> tuple[str, pd.DataFrame]:
    if spec.target not in df.columns:
        raise ValidationError(f"no target column {spec.target!r}; columns: {', '.join(df.columns)}")
    if spec.text is not None:
        if spec.text not in df.columns:
            raise ValidationError(f"no text column {spec.text!r}")
        text = spec.text
    else:
        schema = infer_schema(df.drop(columns=[spec.target]))
        texts = [c.name for c in schema.columns if c.kind == "text"]
        if len(texts) != 1:
            raise ValidationError(
                f"name the text column with text=... (found {len(texts)} text columns: "
                f"{', '.join(texts) or 'none'})"
            )
        text = texts[0]
    data = df[[text, spec.target]].dropna()
    data = data[data[text].astype(str).str.strip() != ""]
    if data[spec.target].nunique() < 2:
        raise TrainingError("a classifier needs at least two labels in the target column")
    if len(data) < 20:
        raise TrainingError(f"{len(data)} labelled texts are too few to train and score a model")
    return text, data.reset_index(drop=True)


def holdout_split(
    df: pd.DataFrame, spec: TextSpec
) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The text column, the usable rows, and the train / holdout split (stable by seed)."""
    text, data = _columns(df, spec)
    train, test = train_test_split(
        data, test_size=spec.test_size, random_state=spec.seed, stratify=data[spec.target]
    )
    return text, data, train, test


def train_text(
    df: pd.DataFrame,
    encoder: TextBundle,
    spec: TextSpec,
    on_progress: Callable[[Progress], None] | None = None,
) -> TextResult:
    notify = on_progress or (lambda _p: None)
    text, data, train, test = holdout_split(df, spec)
    labels = sorted(data[spec.target].unique().tolist(), key=str)
    majority = train[spec.target].value_counts().idxmax()
    baseline = float((test[spec.target] == majority).mean())
    fit = _head if spec.method == "head" else _finetune
    t0 = time.perf_counter()
    bundle, params, history = fit(encoder, train, text, labels, spec, notify)
    fit_s = time.perf_counter() - t0
    notify(Progress("evaluate", 0, 1, "scoring the holdout"))
    model = TextModel(bundle).load()
    try:
        proba = model.run(test[text].astype(str).tolist()).values
    finally:
        model.unload()
    pred = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    y = test[spec.target].to_numpy(dtype=object)
    holdout: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "f1_macro": float(skm.f1_score(y, pred, average="macro")),
    }
    column = data[text]
    stats = {
        "rows": len(data),
        "features": {
            TEXT_COLUMN: {"kind": "text", "missing": 0, **profile_texts(column)},
        },
        "prediction": profile_predictions(pred, "classification"),
    }
    notify(Progress("done", 1, 1, "done"))
    return TextResult(
        bundle,
        holdout,
        baseline,
        params,
        stats,
        len(train),
        len(test),
        history,
        {"fit_s": fit_s},
    )


# -- frozen embeddings + a scikit-learn head ------------------------------------------------------
def _head(
    encoder: TextBundle,
    train: pd.DataFrame,
    text: str,
    labels: list[Any],
    spec: TextSpec,
    notify: Callable[[Progress], None],
) -> tuple[TextBundle, dict[str, Any], list[dict[str, float]]]:
    if encoder.manifest.task != "embeddings":
        raise ValidationError("a head is trained on an embeddings model; this one classifies")
    notify(Progress("fit", 0, 1, "embedding the texts"))
    model = TextModel(encoder).load()
    try:
        vectors = model.embed(train[text].astype(str).tolist())
    finally:
        model.unload()
    frame = pd.DataFrame(vectors, columns=feature_names(vectors.shape[1]))
    frame["__label__"] = train[spec.target].to_numpy(dtype=object)
    # the holdout is scored on texts above; the head's own search keeps a slice for itself
    result = train_model(
        frame,
        infer_schema(frame),
        TrainSpec(
            target="__label__",
            task="classification",
            algorithm=spec.algorithm,
            trials=spec.trials,
            cv=3,
            test_size=0.1,
            seed=spec.seed,
        ),
        notify,
    )
    classes = [c.item() if hasattr(c, "item") else c for c in result.model.classes_]
    head_labels = [labels[[str(x) for x in labels].index(str(c))] for c in classes]
    manifest = encoder.manifest.but(
        task="text-classification", head="head.skops", labels=head_labels, dim=len(head_labels)
    )
    bundle = encoder.with_files(manifest, {"head.skops": SkopsFormat().dumps(result.model)})
    params = {"head": result.algorithm, **result.params, "cv_score": result.cv_score}
    return bundle, params, []


# -- fine-tuning the whole encoder -----------------------------------------------------------------
def _finetune(
    encoder: TextBundle,
    train: pd.DataFrame,
    text: str,
    labels: list[Any],
    spec: TextSpec,
    notify: Callable[[Progress], None],
) -> tuple[TextBundle, dict[str, Any], list[dict[str, float]]]:
    from modelbay.text.torchmodel import build_module, require_torch

    torch = require_torch()
    if encoder.manifest.engine != "torch" or encoder.manifest.dtype != "float32":
        raise ValidationError(
            "fine-tuning needs an fp32 torch encoder (safetensors); use the base version, "
            "not an optimised one"
        )
    fit, val = train_test_split(
        train, test_size=spec.val_size, random_state=spec.seed, stratify=train[spec.target]
    )
    index = {str(v): i for i, v in enumerate(labels)}
    manifest = encoder.manifest.but(
        task="text-classification", head=None, labels=labels, dim=len(labels)
    )
    tok = TextModel(encoder.with_files(manifest)).load_tokenizer()  # the same truncation
    torch.manual_seed(spec.seed)
    with encoder.unpacked() as folder:
        module = build_module(folder, manifest, for_training=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module.to(device)
    x_fit, y_fit = fit[text].astype(str).tolist(), [index[str(v)] for v in fit[spec.target]]
    x_val, y_val = val[text].astype(str).tolist(), [index[str(v)] for v in val[spec.target]]
    steps_per_epoch = -(-len(x_fit) // spec.batch_size)
    total = steps_per_epoch * spec.epochs
    optimizer = torch.optim.AdamW(module.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    rng = np.random.default_rng(spec.seed)
    best: tuple[float, dict[str, Any]] | None = None
    history: list[dict[str, float]] = []
    stale, step = 0, 0
    for epoch in range(spec.epochs):
        module.train()
        order = rng.permutation(len(x_fit))
        losses = []
        for start in range(0, len(order), spec.batch_size):
            idx = order[start : start + spec.batch_size]
            ids, mask, types = (
                torch.from_numpy(a).to(device) for a in tok.pad([x_fit[i] for i in idx])
            )
            target = torch.tensor([y_fit[i] for i in idx], device=device)
            loss = torch.nn.functional.cross_entropy(module(ids, mask, types), target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
            notify(
                Progress(
                    "fit",
                    step,
                    total,
                    f"epoch {epoch + 1}/{spec.epochs} loss {np.mean(losses):.3f}",
                )
            )
        accuracy = _accuracy(torch, module, tok, x_val, y_val, device, spec.batch_size)
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_accuracy": accuracy}
        )
        if best is None or accuracy > best[0]:
            best, stale = (accuracy, copy.deepcopy(module.encoder.state_dict())), 0
        else:
            stale += 1
            if stale > spec.patience:
                break  # early stopping: no better validation score for `patience` epochs
    assert best is not None
    module.encoder.load_state_dict(best[1])
    files = _saved(module.encoder)
    bundle = encoder.with_files(manifest, files)
    params = {
        "epochs_run": len(history),
        "best_val_accuracy": best[0],
        "learning_rate": spec.learning_rate,
        "batch_size": spec.batch_size,
    }
    return bundle, params, history


def _accuracy(
    torch: Any, module: Any, tok: TextModel, texts: list[str], y: list[int], device: str, batch: int
) -> float:
    module.eval()
    right = 0
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            ids, mask, types = (
                torch.from_numpy(a).to(device) for a in tok.pad(texts[start : start + batch])
            )
            pred = module(ids, mask, types).argmax(dim=1).cpu().numpy()
            right += int((pred == np.asarray(y[start : start + batch])).sum())
    return right / max(1, len(texts))


def _saved(encoder: Any) -> dict[str, bytes]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="modelbay-ft-") as d:
        encoder.save_pretrained(d, safe_serialization=True)
        return {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file()}
