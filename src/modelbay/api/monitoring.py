"""Monitoring over HTTP: ``/metrics``, ``/v1/feedback``, quality, drift, alerts, reports."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from modelbay.errors import SchemaError
from modelbay.monitor.alerts import METRICS, OPS
from modelbay.monitor.metrics import CONTENT_TYPE_LATEST, Metrics
from modelbay.monitor.service import Monitor

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


def router(monitor: Monitor, metrics: Metrics) -> APIRouter:
    r = APIRouter(tags=["monitoring"])

    @r.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Prometheus text format, merged across the server's worker processes."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

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
        return [x.to_dict() for x in await asyncio.to_thread(monitor.rules.list)]

    @r.put("/api/alerts/rules/{rule}")
    async def put_rule(rule: str, spec: RuleSpec) -> dict[str, Any]:
        """Create or replace a rule; the answer holds the webhook signing secret."""
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
        await asyncio.to_thread(monitor.rules.delete, rule)

    @r.get("/api/alerts/events")
    async def events(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100, rule: str | None = None
    ) -> list[dict[str, Any]]:
        return list(await asyncio.to_thread(monitor.rules.events, limit, rule))

    return r
