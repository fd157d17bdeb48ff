"""Alert rules over a deployment's metrics, evaluated in the background, sent to webhooks.

A rule watches one metric of one deployment over a window (``drift.psi.max``,
``drift.features``, ``quality.accuracy``, ``quality.f1_macro``, ``quality.rmse``,
``latency.p99_ms``, ``requests.count``) and compares it with a threshold. When the
condition has held for ``for_s`` seconds the rule fires; when it stops holding the
rule resolves. Each change is stored as an event and POSTed to the rule's webhook
as JSON, signed ``X-Modelbay-Signature: sha256=<HMAC of the body with the rule's
secret>``, retried with exponential back-off until it is accepted (2xx).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import orjson
from sqlalchemy import select

from modelbay.errors import NotFoundError, ValidationError
from modelbay.monitor.predlog import logged
from modelbay.registry.audit import AuditLog
from modelbay.registry.db import Database
from modelbay.registry.models import ModelCatalog
from modelbay.registry.refs import check_name
from modelbay.registry.tables import AlertEventRow, AlertRuleRow

__all__ = ["METRICS", "AlertRule", "AlertRules", "deliver", "evaluate_rules", "metric_value"]

log = logging.getLogger("modelbay.monitor")

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
METRICS = (
    "drift.psi.max",
    "drift.features",
    "quality.accuracy",
    "quality.f1_macro",
    "quality.rmse",
    "latency.p99_ms",
    "requests.count",
)


@dataclass(frozen=True)
class AlertRule:
    name: str
    deployment: str
    metric: str
    op: str
    threshold: float
    window_s: float
    for_s: float
    webhook: str
    state: str
    since: datetime | None
    value: float | None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["since"] = self.since.isoformat() if self.since else None
        return out


def _rule(row: AlertRuleRow) -> AlertRule:
    return AlertRule(
        row.name,
        row.deployment,
        row.metric,
        row.op,
        row.threshold,
        row.window_s,
        row.for_s,
        row.webhook,
        row.state,
        row.since,
        row.value,
    )


class AlertRules:
    """The rules in ``db``; every change (add, edit, delete) is written to the audit log.
    ``known(name)`` raises unless a rule may watch ``name`` (the monitor passes its name
    check: a rule on a typo would never fire)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog | None = None,
        *,
        known: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self._audit = audit or AuditLog(db)
        self.known = known

    def put(
        self,
        name: str,
        deployment: str,
        metric: str,
        op: str,
        threshold: float,
        *,
        window_s: float = 3600.0,
        for_s: float = 0.0,
        webhook: str = "",
        secret: str | None = None,
    ) -> tuple[AlertRule, str]:
        """Create or replace a rule; returns it and its webhook signing secret. Audited as
        ``alert.put``, saying whether it was created or replaced (never the secret)."""
        with self._audit.action("alert.put", name) as note:  # a refused rule is audited too
            self._check(name, deployment, metric, op, window_s, for_s, webhook)
            secret = secret or secrets.token_urlsafe(24)
            with self.db.session() as s:
                row = s.get(AlertRuleRow, name)
                done = "created" if row is None else "replaced"
                note["detail"] = f"{done}: {deployment} {metric} {op} {threshold:g}"
                if row is None:
                    row = AlertRuleRow(name=name)
                    s.add(row)
                row.deployment, row.metric, row.op = deployment, metric, op
                row.threshold, row.window_s, row.for_s = threshold, window_s, for_s
                row.webhook, row.secret = webhook, secret
                row.state, row.since, row.value = "ok", None, None
                s.flush()
                rule = _rule(row)
        return rule, secret

    def delete(self, name: str) -> None:
        """Remove a rule (audited as ``alert.delete``)."""
        with self._audit.action("alert.delete", name):
            self._delete(name)

    def _check(
        self,
        name: str,
        deployment: str,
        metric: str,
        op: str,
        window_s: float,
        for_s: float,
        webhook: str,
    ) -> None:
        check_name(name, "rule name")
        check_name(deployment, "deployment name")
        if metric not in METRICS:
            raise ValidationError(f"metric {metric!r} is not one of: {', '.join(METRICS)}")
        if op not in OPS:
            raise ValidationError(f"op {op!r} is not one of: {' '.join(OPS)}")
        if window_s <= 0 or for_s < 0:
            raise ValidationError("window_s must be above zero and for_s zero or more")
        if webhook and not webhook.startswith(("http://", "https://")):
            raise ValidationError("the webhook must be an http:// or https:// URL")
        if self.known is not None:
            self.known(deployment)

    def _delete(self, name: str) -> None:
        with self.db.session() as s:
            row = s.get(AlertRuleRow, name)
            if row is None:
                raise NotFoundError(f"no alert rule {name!r}")
            s.delete(row)

    def list(self) -> list[AlertRule]:
        with self.db.session() as s:
            return [_rule(r) for r in s.scalars(select(AlertRuleRow).order_by(AlertRuleRow.name))]

    def events(self, limit: int = 100, rule: str | None = None) -> Sequence[dict[str, Any]]:
        query = select(AlertEventRow).order_by(AlertEventRow.id.desc()).limit(limit)
        if rule:
            query = query.where(AlertEventRow.rule == rule)
        with self.db.session() as s:
            return [
                {
                    "id": e.id,
                    "rule": e.rule,
                    "state": e.state,
                    "value": e.value,
                    "at": e.at.isoformat(),
                    "delivered": e.delivered,
                    "attempts": e.attempts,
                    "detail": e.detail,
                }
                for e in s.scalars(query)
            ]


Measure = Callable[[str, float], dict[str, Any]]  # (deployment, window_s) -> a result


def metric_value(
    db: Database,
    models: ModelCatalog,
    deployment: str,
    metric: str,
    window_s: float,
    *,
    drift: Measure | None = None,
    quality: Measure | None = None,
) -> float | None:
    """The current value of ``metric`` for ``deployment`` over the window (None: no data)."""
    from modelbay.monitor.drift import measure_drift
    from modelbay.monitor.quality import live_quality

    drift = drift or (lambda d, w: measure_drift(db, models, d, w))
    quality = quality or (lambda d, w: live_quality(db, models, d, w))
    if metric.startswith("drift."):
        try:
            report = drift(deployment, window_s)
        except NotFoundError:
            return None
        if metric == "drift.features":
            return float(len(report["drifted"]))
        inputs = [f["psi"] for f in report["features"] if f["feature"] != "__prediction__"]
        return float(max(inputs)) if inputs else None
    if metric.startswith("quality."):
        found = quality(deployment, window_s)
        values = [
            v["live"][metric.split(".", 1)[1]]
            for v in found["versions"].values()
            if metric.split(".", 1)[1] in v["live"]
        ]
        return float(values[-1]) if values else None
    since = datetime.now(UTC) - timedelta(seconds=window_s)
    with db.session() as s:
        latencies = [r.latency_ms for r in logged(s, deployment, since)]
    if metric == "requests.count":
        return float(len(latencies))
    return float(np.percentile(latencies, 99)) if latencies else None


def evaluate_rules(
    db: Database,
    models: ModelCatalog,
    *,
    send: Callable[[dict[str, Any], str, str], tuple[bool, int, str]] | None = None,
    now: datetime | None = None,
    drift: Measure | None = None,
    quality: Measure | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every rule once; store and send the events of rules that fired or resolved.

    Rules over the same deployment and window share one drift or quality measurement per
    pass (a drift measurement reads the window and stores its result).
    """
    from modelbay.monitor.drift import measure_drift
    from modelbay.monitor.quality import live_quality

    now = now or datetime.now(UTC)
    drift = _once(drift or (lambda d, w: measure_drift(db, models, d, w)))
    quality = _once(quality or (lambda d, w: live_quality(db, models, d, w)))
    events = []
    for rule in AlertRules(db).list():
        try:
            value = metric_value(
                db,
                models,
                rule.deployment,
                rule.metric,
                rule.window_s,
                drift=drift,
                quality=quality,
            )
        except Exception as exc:  # one broken rule must not stop the others
            log.warning("alert rule %s could not be evaluated: %s", rule.name, exc)
            continue
        holds = value is not None and OPS[rule.op](value, rule.threshold)
        state, since, event = rule.state, rule.since, None
        if holds and state == "ok":
            state, since = "pending", now
        if holds and state == "pending" and (now - (since or now)).total_seconds() >= rule.for_s:
            state, event = "firing", "firing"
        if not holds and state == "firing":
            state, since, event = "ok", None, "resolved"
        elif not holds and state == "pending":
            state, since = "ok", None
        with db.session() as s:
            row = s.get(AlertRuleRow, rule.name)
            if row is None:
                continue
            row.state, row.since, row.value = state, since, value
            secret, webhook = row.secret, row.webhook
            if event is not None:
                ev = AlertEventRow(
                    rule=rule.name, state=event, value=float(value or 0.0), at=now, detail=""
                )
                s.add(ev)
                s.flush()
                payload = {
                    "id": ev.id,
                    "rule": rule.name,
                    "state": event,
                    "deployment": rule.deployment,
                    "metric": rule.metric,
                    "op": rule.op,
                    "threshold": rule.threshold,
                    "value": value,
                    "window_s": rule.window_s,
                    "at": now.isoformat(),
                }
                events.append(payload)
        if event is not None and webhook:
            delivered, attempts, detail = (send or deliver)(payload, webhook, secret)
            with db.session() as s:
                found = s.get(AlertEventRow, payload["id"])
                if found is not None:
                    found.delivered, found.attempts, found.detail = delivered, attempts, detail
    return events


def _once(measure: Measure) -> Measure:
    """``measure`` remembering its results (and refusals) by (deployment, window)."""
    seen: dict[tuple[str, float], dict[str, Any] | NotFoundError] = {}

    def once(deployment: str, window_s: float) -> dict[str, Any]:
        key = (deployment, window_s)
        if key not in seen:
            try:
                seen[key] = measure(deployment, window_s)
            except NotFoundError as exc:
                seen[key] = exc
        found = seen[key]
        if isinstance(found, NotFoundError):
            raise found
        return found

    return once


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    payload: dict[str, Any],
    url: str,
    secret: str,
    *,
    attempts: int = 5,
    backoff_s: float = 0.5,
    timeout_s: float = 5.0,
) -> tuple[bool, int, str]:
    """POST a signed event, retrying with exponential back-off; (delivered, attempts, detail)."""
    body = orjson.dumps(payload)
    headers = {
        "content-type": "application/json",
        "x-modelbay-signature": sign(body, secret),
        "x-modelbay-event": str(payload.get("id", "")),
        "user-agent": "modelbay-alerts",
    }
    detail = ""
    for attempt in range(1, attempts + 1):
        try:
            r = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
            if 200 <= r.status_code < 300:
                return True, attempt, f"HTTP {r.status_code}"
            detail = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    log.warning(
        "alert %s not delivered to %s after %d attempts: %s",
        payload.get("rule"),
        url,
        attempts,
        detail,
    )
    return False, attempts, detail
