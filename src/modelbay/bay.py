"""``Bay``: the one core API. The CLI, the HTTP API and Python users all call this."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelbay.errors import ModelbayError, ValidationError
from modelbay.registry.home import Registry
from modelbay.registry.models import Draft
from modelbay.registry.predictor import Predictor
from modelbay.registry.records import Dataset, ModelVersion
from modelbay.registry.refs import ModelRef, check_name

if TYPE_CHECKING:  # training code loads only when something trains, never in a server
    from modelbay.data.preprocess import Preprocessing
    from modelbay.monitor.service import Monitor
    from modelbay.optimize.optimizer import OptimizeOutcome
    from modelbay.security.keys import KeyCatalog
    from modelbay.server import Server
    from modelbay.train.trainer import Progress, TrainResult, TrainSpec

__all__ = ["Bay"]

DataArg = Dataset | pd.DataFrame | str | Path | int


class Bay(Registry):
    """A modelbay home with training: the core API behind every face.

    ``Bay()`` opens ``$MODELBAY_HOME`` (else ``~/.modelbay``), ``Bay(home=DIR)`` another
    folder, ``Bay(Settings(...))`` any configuration. Close it, or use it in a ``with``.

    Attributes:
        settings: the :class:`~modelbay.Settings` it was opened with.
        datasets: stored tables (``add``, ``get``, ``list``, ``load``).
        models: the registry of models, versions and aliases (``get``, ``list``,
            ``versions``, ``set_alias``, ``delete_alias``).
        deployments: named endpoints over model references (``put``, ``get``, ``list``,
            ``delete``).
        runs: training runs, with their trials and results (``get``, ``list``).
        audit: who trained, registered, moved, deployed or changed keys (``list``).
        keys: API keys for servers (``create``, ``list``, ``get``, ``revoke``, ``rotate``).
        monitor: live quality, drift, alert rules and reports over the prediction log
            (``feedback``, ``quality``, ``drift``, ``rules``, ``report``).
        db: the registry's database (SQLite by default, PostgreSQL by URL).
        store: the sealed artifact store (compressed, encrypted, checked on every read).

    Example::

        import pandas as pd
        from modelbay import Bay

        with Bay() as bay:
            ds = bay.datasets.add("churn.csv")  # stored once, by content; named "churn"
            version = bay.train(ds, target="churned", trials=5)  # churn:1, its champion
            rows = pd.read_csv("churn.csv").drop(columns="churned").head()
            print(version.ref, bay.load("churn@champion").predict(rows))
    """

    _keys: KeyCatalog | None = None

    # -- training -----------------------------------------------------------------------
    def _dataset(self, data: DataArg) -> Dataset:
        if isinstance(data, Dataset):
            return data
        if isinstance(data, pd.DataFrame):
            return self.datasets.add(data)
        if isinstance(data, Path) or (
            isinstance(data, str) and Path(data).suffix and Path(data).exists()
        ):
            return self.datasets.add(data)
        return self.datasets.get(data)

    def __enter__(self) -> Bay:
        return self

    def train(
        self,
        data: DataArg,
        target: str | None = None,
        *,
        name: str | None = None,
        algorithm: str = "auto",
        task: str | None = None,
        trials: int = 20,
        timeout: float | None = None,
        cv: int = 5,
        metric: str | None = None,
        test_size: float = 0.2,
        seed: int = 0,
        preprocessing: Preprocessing | dict[str, Any] | None = None,
        features: Iterable[str] | None = None,
        params: dict[str, Any] | None = None,
        aliases: Iterable[str] = (),
        parent: str | None = None,
        description: str = "",
        on_progress: Callable[[Progress], None] | None = None,
    ) -> ModelVersion:
        """Search, fit, score and register a model; returns the new immutable version.

        A model's first version also becomes its ``champion``; later versions move
        only the aliases named in ``aliases``.

        Args:
            data: a :class:`~modelbay.Dataset`, a DataFrame or a .csv/.parquet path (added
                first), or a stored dataset's name or id.
            target: the column to predict; None to cluster.
            name: the model's name (default: the dataset's).
            algorithm: ``auto`` (compare them all), one name, ``pca+NAME``, or a comma list.
            task: classification, regression or clustering (default: from the target).
            trials: search trials (Optuna TPE).
            timeout: the search's time budget in seconds, if any.
            cv: cross-validation folds for each trial.
            metric: the metric to optimise (default: macro F1, RMSE or silhouette).
            test_size: the share of rows held out and scored once at the end.
            seed: the random seed of splits and search.
            preprocessing: a :class:`~modelbay.Preprocessing` or a dict of its fields.
            features: the columns to learn from (default: all but the target and the
                dropped ones).
            params: fixed hyperparameters (with one algorithm).
            aliases: aliases to point at the new version.
            parent: a model reference recorded as this version's parent.
            description: a line about the version.
            on_progress: called with a :class:`~modelbay.Progress` as the search and the
                final fit go on.
        """
        from modelbay.data.preprocess import Preprocessing
        from modelbay.train.trainer import TrainSpec

        spec = TrainSpec(
            target=target,
            task=task,
            algorithm=algorithm,
            trials=trials,
            timeout=timeout,
            cv=cv,
            metric=metric,
            test_size=test_size,
            seed=seed,
            preprocessing=Preprocessing.from_any(preprocessing),
            features=tuple(features) if features is not None else None,
            params=params,
        )
        dataset = self._dataset(data)
        model_name = check_name(name or dataset.name)
        with self.audit.action("train", model_name) as note:
            version = self._train(
                dataset, model_name, spec, parent, aliases, description, on_progress
            )
            note["detail"] = f"version {version.version} ({version.algorithm})"
        return version

    def _train(
        self,
        dataset: Dataset,
        model_name: str,
        spec: TrainSpec,
        parent: str | None,
        aliases: Iterable[str],
        description: str,
        on_progress: Callable[[Progress], None] | None,
    ) -> ModelVersion:
        from modelbay.train.trainer import train_model

        parent_version = self.models.get(parent) if parent else None
        run_id = self.runs.start(
            dataset_id=dataset.id, model_name=model_name, config=spec.to_dict()
        )
        recorded: list[dict[str, Any]] = []

        def progress(p: Progress) -> None:
            if p.phase == "search" and p.trial is not None:
                # written before the caller hears of it: an interrupt there keeps the trial
                recorded.append(p.trial.to_dict())
                self.runs.add_trial(run_id, recorded[-1])
            if on_progress is not None:
                on_progress(p)

        try:
            result = train_model(self.datasets.load(dataset), dataset.schema, spec, progress)
            version, timings = self._register(
                model_name,
                dataset,
                spec,
                result,
                run_id,
                parent_version,
                list(aliases),
                description,
            )
        except BaseException as exc:
            self._end_run(run_id, exc, recorded)
            raise
        self.runs.finish(
            run_id,
            status="succeeded",
            version_id=version.id,
            trials=[t.to_dict() for t in result.trials],
            result=_run_result(result, version, timings),
        )
        return version

    def _end_run(self, run_id: int, exc: BaseException, trials: list[dict[str, Any]]) -> None:
        """Record how a run ended early: ``cancelled`` when it was interrupted (Ctrl-C, a
        cancelled task, a process asked to exit), else ``failed``; with the trials it ran."""
        if _interrupted(exc):
            why = f"cancelled ({type(exc).__name__}) after {len(trials)} trial(s)"
            self.runs.finish(run_id, status="cancelled", error=why, trials=trials)
        else:
            self.runs.finish(run_id, status="failed", error=_one_line(exc), trials=trials)

    def _register(
        self,
        name: str,
        dataset: Dataset,
        spec: TrainSpec,
        result: TrainResult,
        run_id: int,
        parent: ModelVersion | None,
        aliases: list[str],
        description: str,
    ) -> tuple[ModelVersion, dict[str, float]]:
        with self.models.register(name) as draft:
            draft.task = result.task
            draft.algorithm = result.algorithm
            draft.signature = result.signature
            draft.metrics = {
                "cv": {result.metric: result.cv_score},
                "holdout": result.holdout,
                "rows_train": result.rows_train,
                "rows_test": result.rows_test,
            }
            if result.selection:
                draft.metrics["selection"] = result.selection
            draft.params = dict(result.params)
            draft.lineage = {
                "dataset": dataset.lineage_ref(),
                "training_run": run_id,
                "algorithm": result.algorithm,
                "target": spec.target,
                "config": spec.to_dict(),
                "parent": parent.lineage_ref() if parent else None,
                "code_version": _version(),
                "excluded_columns": dict(result.excluded),
            }
            draft.reference_stats = result.reference_stats
            draft.description = description
            draft.aliases = aliases
            draft.save_model(result.model)
            self._compile(draft, result)
        assert draft.version is not None
        return draft.version, {**result.timings, **draft.timings}

    def train_text(
        self,
        data: DataArg,
        target: str,
        *,
        encoder: str,
        name: str | None = None,
        text: str | None = None,
        method: str = "head",
        algorithm: str = "logistic_regression",
        trials: int = 5,
        epochs: int = 3,
        learning_rate: float = 5e-5,
        batch_size: int = 16,
        patience: int = 1,
        test_size: float = 0.2,
        seed: int = 0,
        aliases: Iterable[str] = (),
        description: str = "",
        on_progress: Callable[[Progress], None] | None = None,
    ) -> ModelVersion:
        """Train a text classifier on a registered encoder (``encoder="minilm@champion"``).

        ``method="head"`` fits a scikit-learn head on frozen embeddings (the usual search);
        ``method="finetune"`` trains the whole encoder with a classification head. The new
        version's lineage names the encoder version as its parent.
        """
        from modelbay.optimize.text_import import register_bundle
        from modelbay.train.text import TextSpec, train_text

        spec = TextSpec(
            target=target,
            text=text,
            method=method,
            algorithm=algorithm,
            trials=trials,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            patience=patience,
            test_size=test_size,
            seed=seed,
        )
        base = self.models.get(encoder)
        if base.flavor != "transformers":
            raise ValidationError(f"{base.ref} is not a transformer model; import one first")
        dataset = self._dataset(data)
        model_name = check_name(name or dataset.name)
        config = {"text": spec.to_dict(), "encoder": base.ref}
        with self.audit.action("train", model_name) as note:
            run_id = self.runs.start(dataset_id=dataset.id, model_name=model_name, config=config)
            try:
                result = train_text(
                    self.datasets.load(dataset), self.models.load_object(base), spec, on_progress
                )
                version = register_bundle(
                    self,
                    model_name,
                    result.bundle,
                    lineage={
                        "dataset": dataset.lineage_ref(),
                        "training_run": run_id,
                        "target": target,
                        "config": config,
                        "parent": base.lineage_ref(),
                        "code_version": _version(),
                    },
                    metrics={
                        "holdout": result.holdout,
                        "baseline_accuracy": result.baseline,
                        "rows_train": result.rows_train,
                        "rows_test": result.rows_test,
                        "history": result.history,
                    },
                    params=result.params,
                    reference_stats=result.reference_stats,
                    aliases=aliases,
                    description=description,
                    target=target,
                )
            except BaseException as exc:
                self._end_run(run_id, exc, [])
                raise
            self.runs.finish(
                run_id,
                status="succeeded",
                version_id=version.id,
                result={"version": version.ref, "holdout": result.holdout, **result.timings},
            )
            note["detail"] = f"version {version.version} ({method} on {base.ref})"
        return version

    @staticmethod
    def _compile(draft: Draft, result: TrainResult) -> None:
        """Attach an ONNX graph that passed its parity check, or record why there is none."""
        from modelbay.optimize.onnx import compile_sklearn

        t0 = time.perf_counter()
        assert result.sample is not None
        compiled = compile_sklearn(result.model, result.signature, result.sample)
        draft.timings["compile_s"] = time.perf_counter() - t0
        if compiled.onnx is not None:
            draft.add_artifact("onnx", compiled.onnx, "onnx", compiled.report)
        draft.serving = compiled.report

    def optimize(
        self,
        ref: str,
        method: str | None = None,
        *,
        force: bool = False,
        data: DataArg | None = None,
        text: str | None = None,
        target: str | None = None,
        keep_layers: int | None = None,
        aliases: Iterable[str] = (),
    ) -> OptimizeOutcome:
        """A new version of ``ref`` made by ``method`` (onnx, int8, int8-per-tensor, bf16,
        prune), registered only if it passes its quality gate against ``ref`` (or ``force``).

        ``method=None`` picks the one that fits the version (int8 for a transformer, onnx
        for scikit-learn); a method that would change nothing registers nothing and the
        outcome says so (``noop``)."""
        from modelbay.optimize.optimizer import optimize

        frame = None if data is None else self.datasets.load(self._dataset(data))
        return optimize(
            self,
            ref,
            method,
            force=force,
            data=frame,
            text=text,
            target=target,
            keep_layers=keep_layers,
            aliases=aliases,
        )

    @property
    def monitor(self) -> Monitor:
        """Drift, live quality, alert rules and reports over this registry's prediction log."""
        from modelbay.monitor.service import Monitor

        return Monitor(self)

    # -- keys and imports --------------------------------------------------------------------
    @property
    def keys(self) -> KeyCatalog:
        """API keys for servers over this registry (``create``, ``list``, ``revoke``, ``rotate``)."""
        from modelbay.security.keys import KeyCatalog

        if self._keys is None:
            self._keys = KeyCatalog.of(self)
        return self._keys

    def import_model(
        self,
        source: bytes | str | Path,
        name: str | None = None,
        *,
        task: str | None = None,
        aliases: Iterable[str] = (),
        description: str = "",
        classes: Sequence[Any] | None = None,
    ) -> ModelVersion:
        """Register a model made elsewhere: a scikit-learn skops file (pickles are refused), an
        ONNX file as it is (``task`` ``tensor``, ``classification`` with ``classes``, or
        ``regression``), a Hugging Face / sentence-transformers directory (safetensors
        weights) with ``task`` ``embeddings`` (the default for a directory) or
        ``text-classification``, or a folder or tar written by ``bay.models.export`` (under
        its own name by default)."""
        from modelbay.optimize.importer import import_model

        return import_model(
            self,
            source,
            name,
            task=task,
            aliases=aliases,
            description=description,
            classes=classes,
        )

    # -- serving ------------------------------------------------------------------------------
    def serve(self, **options: Any) -> Server:
        """A server over this home: ``Server`` with these settings changed (``host``,
        ``port``, ``workers``, ``auth``, ``grpc_port``, ``ssl_certfile``, any other serving
        setting). ``modelbay.api.host.serve(server)`` runs it as ``modelbay serve`` does."""
        from modelbay.server import Server
        from modelbay.settings import Settings

        unknown = sorted(set(options) - set(Settings.model_fields))
        if unknown:
            raise ValidationError(
                f"unknown server setting {', '.join(map(repr, unknown))}; the settings are: "
                f"{', '.join(sorted(Settings.model_fields))}"
            )
        settings = Settings.model_validate({**self.settings.model_dump(), **options})
        return Server(settings, registry=self)

    # -- serving in process ---------------------------------------------------------------
    def load(self, ref: str | ModelRef | ModelVersion) -> Predictor:
        """Load a version (``name``, ``name@alias``, ``name:N``) as a checked predictor; an
        archived version is refused, as every server refuses it."""
        version = self.models.servable(ref.ref if isinstance(ref, ModelVersion) else ref)
        return Predictor(version, self.models.load_object(version))


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` stopped work from outside (Ctrl-C, a cancelled task, exit) rather
    than work failing."""
    return isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ModelbayError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:1000]


def _version() -> str:
    try:
        return metadata.version("modelbay")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _run_result(
    result: TrainResult, version: ModelVersion, timings: dict[str, float]
) -> dict[str, Any]:
    return {
        "version": version.ref,
        "algorithm": result.algorithm,
        "params": result.params,
        "metric": result.metric,
        "cv_score": result.cv_score,
        "holdout": result.holdout,
        "cleaning": result.cleaning.__dict__,
        "timings": timings,
        "warnings": result.warnings,
        "selection": result.selection,
    }
