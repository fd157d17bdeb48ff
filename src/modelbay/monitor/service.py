"""``Monitor``: the monitoring operations on a registry, for the HTTP API, the CLI and Python."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from modelbay.errors import ValidationError
from modelbay.monitor.alerts import AlertRules, evaluate_rules
from modelbay.monitor.drift import drift_history, measure_drift
from modelbay.monitor.quality import add_feedback, live_quality
from modelbay.monitor.report import render_report, report_data
from modelbay.registry.home import Registry

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
    """``on_drift`` and ``on_quality`` see every result computed here (a server sets its gauges)."""

    def __init__(
        self,
        registry: Registry,
        *,
        on_drift: Callable[[dict[str, Any]], None] | None = None,
        on_quality: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.registry = registry
        self.rules = AlertRules(registry.db, registry.audit)
        self.on_drift = on_drift
        self.on_quality = on_quality

    def feedback(self, items: list[dict[str, Any]]) -> int:
        return add_feedback(self.registry.db, items)

    def quality(self, deployment: str, window: str | float = "1h") -> dict[str, Any]:
        found = live_quality(
            self.registry.db, self.registry.models, deployment, parse_window(window)
        )
        if self.on_quality is not None:
            self.on_quality(found)
        return found

    def drift(
        self, deployment: str, window: str | float = "1h", *, store: bool = True
    ) -> dict[str, Any]:
        found = measure_drift(
            self.registry.db, self.registry.models, deployment, parse_window(window), store=store
        )
        if self.on_drift is not None:
            self.on_drift(found)
        return found

    def drift_history(self, deployment: str) -> list[dict[str, Any]]:
        return drift_history(self.registry.db, deployment)

    def evaluate_alerts(self) -> list[dict[str, Any]]:
        return evaluate_rules(
            self.registry.db, self.registry.models, drift=self.drift, quality=self.quality
        )

    def report(self, deployment: str, window: str | float = "24h") -> str:
        data = report_data(self.registry.db, self.registry.models, deployment, parse_window(window))
        return render_report(data)
