"""``Monitor``: the monitoring operations on a registry, for the HTTP API, the CLI and Python."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from modelbay.errors import NotFoundError, ValidationError
from modelbay.monitor.alerts import AlertRules, evaluate_rules
from modelbay.monitor.drift import drift_history, measure_drift
from modelbay.monitor.quality import FeedbackResult, add_feedback, live_quality
from modelbay.monitor.report import render_report, report_data
from modelbay.registry.home import Registry
from modelbay.registry.tables import PredictionBatchRow

__all__ = ["Monitor", "parse_window"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str | float | int) -> float:
    """``90``, ``30m``, ``1h``, ``7d`` -> seconds."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text).lower())
        if not m:
            raise ValidationError(f"window {text!r} is not like 90, 30m, 1h or 7d")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not 0 < seconds <= 366 * 86400:
        raise ValidationError("a window must be above zero and at most a year")
    return seconds


class Monitor:
    """``on_drift`` and ``on_quality`` see every result computed here (a server sets its gauges);
    ``flush_log`` writes a server's queued prediction log before feedback is matched to it.

    Every operation on a name (``quality``, ``drift``, ``report``, an alert rule) first checks
    that the name means something: a deployment, a model (served under its own name), or a
    name with requests in the prediction log (a removed deployment keeps its history). A
    typo is an error that lists what exists, not an empty answer.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        on_drift: Callable[[dict[str, Any]], None] | None = None,
        on_quality: Callable[[dict[str, Any]], None] | None = None,
        flush_log: Callable[[], object] | None = None,
    ) -> None:
        self.registry = registry
        self.flush_log = flush_log  # a server's: write its queued log before feedback looks
        self.rules = AlertRules(registry.db, registry.audit, known=self.check_name)
        self.on_drift = on_drift
        self.on_quality = on_quality

    def check_name(self, name: str) -> None:
        """Raise :class:`NotFoundError` (listing the deployments and models) unless ``name``
        is a deployment, a model, or has logged requests."""
        registry = self.registry
        if registry.deployments.find(name) is not None:
            return
        models = [m.name for m in registry.models.list()]
        if name in models:
            return
        query = select(PredictionBatchRow.id).where(PredictionBatchRow.deployment == name)
        with registry.db.session() as s:
            if s.scalar(query.limit(1)) is not None:
                return
        deployments = [d.name for d in registry.deployments.list()]
        raise NotFoundError(  # names kept apart: a face lists only those the caller may see
            f"no deployment or model is named {name!r} (and nothing is logged under it)",
            groups={"deployments": deployments, "models": models},
            empty="; no deployment or model exists (train one with `modelbay train`)",
        )

    def feedback(self, items: list[dict[str, Any]]) -> FeedbackResult:
        """Store ground truth for logged predictions (see :func:`add_feedback`): what was
        stored, and the request ids not in the prediction log (not stored)."""
        return add_feedback(self.registry.db, items, flush=self.flush_log)

    def quality(self, deployment: str, window: str | float = "1h") -> dict[str, Any]:
        """Live quality of a deployment (or model) from feedback, per version."""
        seconds = parse_window(window)
        self.check_name(deployment)
        return self._quality(deployment, seconds)

    def _quality(self, deployment: str, window_s: float) -> dict[str, Any]:
        found = live_quality(self.registry.db, self.registry.models, deployment, window_s)
        if self.on_quality is not None:
            self.on_quality(found)
        return found

    def drift(
        self, deployment: str, window: str | float = "1h", *, store: bool = True
    ) -> dict[str, Any]:
        """Drift of a deployment's (or model's) inputs and predictions over the window."""
        seconds = parse_window(window)
        self.check_name(deployment)
        return self._drift(deployment, seconds, store=store)

    def _drift(self, deployment: str, window_s: float, *, store: bool = True) -> dict[str, Any]:
        found = measure_drift(
            self.registry.db, self.registry.models, deployment, window_s, store=store
        )
        if self.on_drift is not None:
            self.on_drift(found)
        return found

    def drift_history(self, deployment: str) -> list[dict[str, Any]]:
        self.check_name(deployment)
        return drift_history(self.registry.db, deployment)

    def evaluate_alerts(self) -> list[dict[str, Any]]:
        # unchecked: a rule on a deployment removed since is evaluated (to no value), not refused
        return evaluate_rules(
            self.registry.db, self.registry.models, drift=self._drift, quality=self._quality
        )

    def report(self, deployment: str, window: str | float = "24h") -> str:
        seconds = parse_window(window)
        self.check_name(deployment)
        data = report_data(self.registry.db, self.registry.models, deployment, seconds)
        return render_report(data)
