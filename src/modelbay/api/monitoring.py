"""Monitoring over HTTP: ``/metrics``, ``/v1/feedback``, quality, drift, alerts, reports.

An alert rule watches a deployment, so a key with a model allow-list sees (lists,
replaces, deletes) only the rules on deployments it may see, and their events; a rule on
any other answers as one that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from modelbay.errors import ConflictError, NotFoundError, SchemaError
from modelbay.monitor.alerts import METRICS, OPS, AlertRule
from modelbay.monitor.metrics import CONTENT_TYPE_LATEST, Metrics
from modelbay.monitor.service import Monitor
from modelbay.registry.refs import ModelRef
from modelbay.security.admission import Admission
from modelbay.security.gate import current_principal
from modelbay.security.keys import Principal

__all__ = ["router"]


class FeedbackItem(BaseModel):
    request_id: str = Field(description="The id a prediction's response carried")
    truth: Any = Field(description="The true value, or a list of them (one per row)")


class FeedbackBody(BaseModel):
    """One item (``request_id`` + ``truth``), or many under ``feedback``."""

    request_id: str | None = None
    truth: Any = None
    feedback: list[FeedbackItem] | None = Field(None, max_length=10_000)


class RuleSpec(BaseModel):
    deployment: str
    metric: str = Field(description=f"One of: {', '.join(METRICS)}")
    op: str = Field(">", description=f"One of: {' '.join(OPS)}")
    threshold: float
    window_s: float = Field(3600.0, gt=0, le=366 * 86400)
    for_s: float = Field(0.0, ge=0, le=366 * 86400)
    webhook: str = Field("", description="http(s) URL that receives firing/resolved events")
    secret: str | None = Field(None, description="Webhook signing secret (default: made up)")


WINDOW = Annotated[str, Query(description="90, 30m, 1h, 7d", max_length=16)]


def _deployments_seen(monitor: Monitor, principal: Principal) -> set[str]:
    """The deployment names a principal may see: its models' (a model serves under its own
    name) and the deployments of them or named on its list."""
    registry = monitor.registry
    seen = {m.name for m in registry.models.list() if principal.sees(m.name)}
    for d in registry.deployments.list():
        if principal.sees(d.name, ModelRef.parse(d.model).name):
            seen.add(d.name)
    return seen


def router(monitor: Monitor, metrics: Metrics, admission: Admission) -> APIRouter:
    r = APIRouter(tags=["monitoring"])

    async def visible_rules() -> tuple[list[AlertRule], set[str]]:
        """Every rule the calling key may see, and the names of those it may not."""
        found = await asyncio.to_thread(monitor.rules.list)
        if current_principal.get().models is None:  # the usual key: every rule
            return found, set()
        shown = [x for x in found if await admission.visible(x.deployment)]
        return shown, {x.name for x in found} - {x.name for x in shown}

    @r.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text format, merged across the server's worker processes (for a key
        with a model allow-list, of the deployments it may see)."""
        principal = current_principal.get()
        shown = None
        if principal.models is not None:
            shown = (await asyncio.to_thread(_deployments_seen, monitor, principal)).__contains__
        return Response(metrics.render(shown), media_type=CONTENT_TYPE_LATEST)

    @r.post("/v1/feedback")
    async def feedback(body: FeedbackBody) -> dict[str, Any]:
        """Ground truth for earlier predictions, by the request id their response carried.

        The answer says how many items were stored (``stored``, those whose prediction is in
        the log: ``matched``) and which request ids are not in it (``unmatched``: not stored);
        404 when none is."""
        if body.feedback is not None:
            items = [i.model_dump() for i in body.feedback]
        elif body.request_id is not None:
            items = [{"request_id": body.request_id, "truth": body.truth}]
        else:
            raise SchemaError("send {'request_id': ..., 'truth': ...} or {'feedback': [...]}")
        return (await asyncio.to_thread(monitor.feedback, items)).to_dict()

    @r.get("/api/monitor/{name}/quality")
    async def quality(name: str, window: WINDOW = "1h") -> dict[str, Any]:
        """Live quality from feedback per version, beside the offline holdout metrics."""
        return await asyncio.to_thread(monitor.quality, name, window)

    @r.get("/api/monitor/{name}/drift")
    async def drift(name: str, window: WINDOW = "1h") -> dict[str, Any]:
        """Drift of the inputs and predictions over the window (stored for the history)."""
        return await asyncio.to_thread(monitor.drift, name, window)

    @r.get("/api/monitor/{name}/drift/history")
    async def drift_history(name: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(monitor.drift_history, name)

    @r.get("/api/monitor/{name}/report", response_class=Response)
    async def report(name: str, window: WINDOW = "24h") -> Response:
        """A self-contained HTML report with charts."""
        page = await asyncio.to_thread(monitor.report, name, window)
        return Response(page, media_type="text/html")

    @r.get("/api/alerts/rules")
    async def rules() -> list[dict[str, Any]]:
        return [x.to_dict() for x in (await visible_rules())[0]]

    @r.put("/api/alerts/rules/{rule}")
    async def put_rule(rule: str, spec: RuleSpec) -> dict[str, Any]:
        """Create or replace a rule; the answer holds the webhook signing secret."""
        await admission.check_model(spec.deployment)  # 404 for a deployment the key may not see
        if rule in (await visible_rules())[1]:
            raise ConflictError(
                f"the alert rule name {rule!r} is taken by a rule this key may not see; "
                "choose another"
            )
        made, secret = await asyncio.to_thread(
            lambda: monitor.rules.put(
                rule,
                spec.deployment,
                spec.metric,
                spec.op,
                spec.threshold,
                window_s=spec.window_s,
                for_s=spec.for_s,
                webhook=spec.webhook,
                secret=spec.secret,
            )
        )
        return {**made.to_dict(), "secret": secret}

    @r.delete("/api/alerts/rules/{rule}", status_code=204)
    async def delete_rule(rule: str) -> None:
        if rule in (await visible_rules())[1]:
            raise NotFoundError(f"no alert rule {rule!r}")  # as the registry says of a missing one
        await asyncio.to_thread(monitor.rules.delete, rule)

    @r.get("/api/alerts/events")
    async def events(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100, rule: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest events (of the rules the key may see: a key with an allow-list may get
        fewer than ``limit``)."""
        found = await asyncio.to_thread(monitor.rules.events, limit, rule)
        if current_principal.get().models is None:
            return list(found)
        shown = {x.name for x in (await visible_rules())[0]}
        return [e for e in found if e["rule"] in shown]

    return r
