"""A self-contained HTML report of a deployment: traffic, latency, live quality, drift.

Charts are inline SVG drawn here (no script, no network), so the file opens anywhere
and can be mailed; the dashboard draws the same series.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modelbay.monitor.drift import drift_history, measure_drift
from modelbay.monitor.predlog import feedback_for, logged
from modelbay.monitor.quality import aligned, scores
from modelbay.registry.db import Database
from modelbay.registry.models import ModelCatalog

__all__ = ["render_report", "report_data"]

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


def report_data(
    db: Database, models: ModelCatalog, deployment: str, window_s: float, buckets: int = 30
) -> dict[str, Any]:
    """The series the report (and the dashboard) draws, over the last ``window_s`` seconds."""
    now = datetime.now(UTC)
    since = now - timedelta(seconds=window_s)
    with db.session() as s:
        rows = logged(s, deployment, since)
        truths = feedback_for(s, rows, since)
    width = window_s / buckets
    edges = [since + timedelta(seconds=width * i) for i in range(buckets + 1)]
    times = [e.isoformat() for e in edges[1:]]
    per: list[list[Any]] = [[] for _ in range(buckets)]
    start = since.timestamp()
    for r in rows:
        i = min(buckets - 1, max(0, int((r.at - start) // width)))
        per[i].append(r)
    task = None
    if rows:
        task = models.get(f"{rows[-1].model}:{rows[-1].version}").task
    throughput = [len(b) / width for b in per]
    p50 = [float(np.percentile([r.latency_ms for r in b], 50)) if b else None for b in per]
    p99 = [float(np.percentile([r.latency_ms for r in b], 99)) if b else None for b in per]
    quality: list[float | None] = []
    metric = "rmse" if task == "regression" else "accuracy"
    for b in per:
        t: list[Any] = []
        p: list[Any] = []
        for r in b:
            sent = truths.get(r.request_id)
            truth = aligned(sent, r.outputs, r.rows) if sent is not None else None
            if truth is not None and len(truth) == len(r.outputs):
                pairs = [(a, c) for a, c in zip(truth, r.outputs, strict=True) if a is not None]
                t += [a for a, _ in pairs]
                p += [c for _, c in pairs]
        quality.append(scores(task or "classification", t, p)[metric] if t else None)
    history = drift_history(db, deployment, since)
    drift: dict[str, list[tuple[str, float]]] = {}
    for h in history:
        if h["test"] == "psi":
            drift.setdefault(h["feature"], []).append((h["at"], h["statistic"]))
    try:
        latest = measure_drift(db, models, deployment, window_s, store=False)
    except Exception:
        latest = None
    return {
        "deployment": deployment,
        "window_s": window_s,
        "generated": now.isoformat(),
        "requests": len(rows),
        "times": times,
        "throughput": throughput,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "quality_metric": metric,
        "quality": quality,
        "drift_psi": drift,
        "latest_drift": latest,
    }


def _svg(
    title: str, series: dict[str, list[float | None]], unit: str, w: int = 720, h: int = 220
) -> str:
    """A line chart: one polyline a series, gaps where a value is missing."""
    rows_of_legend = (len(series) + 3) // 4
    pad_l, pad_r, pad_t, pad_b = 56, 12, 16 + 14 * rows_of_legend, 26
    h += 14 * (rows_of_legend - 1)
    values = [v for s in series.values() for v in s if v is not None]
    if not values:
        return f'<figure><figcaption>{html.escape(title)}</figcaption><p class="empty">no data in this window</p></figure>'
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(s) for s in series.values())

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (w - pad_l - pad_r) * (i / max(n - 1, 1))
        y = pad_t + (h - pad_t - pad_b) * (1 - (v - lo) / (hi - lo))
        return x, y

    parts = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{html.escape(title)}">'
    ]
    for k in range(5):
        tick = lo + (hi - lo) * k / 4
        _, y = xy(0, tick)
        parts.append(
            f'<line x1="{pad_l}" x2="{w - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.3g}</text>')
    for j, (name, s) in enumerate(series.items()):
        color = COLORS[j % len(COLORS)]
        run: list[str] = []
        for i, v in enumerate(s):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" stroke="{color}"/>')
                run = []
                continue
            x, y = xy(i, v)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>')
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" stroke="{color}"/>')
        parts.append(
            f'<text x="{pad_l + 8 + 165 * (j % 4)}" y="{14 + 14 * (j // 4)}" fill="{color}" '
            f'class="legend">{html.escape(name[:24])}</text>'
        )
    parts.append(
        f'<text x="{w - pad_r}" y="{h - 6}" text-anchor="end">{html.escape(unit)}</text></svg>'
    )
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}</figure>"


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def render_report(data: dict[str, Any]) -> str:
    """The report as one HTML page with inline styles and SVG charts."""
    esc = html.escape
    charts = [
        _svg("Throughput", {"requests/s": data["throughput"]}, "req/s over the window"),
        _svg(
            "Latency",
            {"p50": data["latency_p50_ms"], "p99": data["latency_p99_ms"]},
            "ms (data plane)",
        ),
        _svg(
            f"Live quality ({data['quality_metric']})",
            {data["quality_metric"]: data["quality"]},
            "from feedback",
        ),
    ]
    # the eight features that moved most (by their latest PSI), so the chart stays readable
    moved = sorted(data["drift_psi"].items(), key=lambda kv: -kv[1][-1][1])[:8]
    drift_series = {f: [v for _, v in points] for f, points in moved}
    charts.append(
        _svg(
            "Drift over time (PSI): the 8 features that moved most",
            drift_series,
            "each stored drift check",
        )
    )
    latest = data.get("latest_drift")
    table = "<p>No logged requests in this window.</p>"
    if latest:
        rows = "".join(
            f'<tr class="{"drifted" if f["drifted"] else ""}"><td>{esc(f["feature"])}</td>'
            f"<td>{esc(f['kind'])}</td><td>{f['psi']:.3f}</td><td>{esc(f['test'])}</td>"
            f"<td>{f['statistic']:.3g}</td><td>{_p(f['p_value'])}</td>"
            f"<td>{f['n_ref']}</td><td>{f['n_cur']}</td>"
            f"<td>{'DRIFT' if f['drifted'] else 'ok'}</td><td>{esc(f['detail'])}</td></tr>"
            for f in latest["features"]
        )
        table = (
            f"<p>Version {latest['version']} of {esc(latest['model'])}: "
            f"{latest['requests']} requests, {latest['rows']} rows. Drifted: "
            f"<b>{esc(', '.join(latest['drifted']) or 'none')}</b>.</p>"
            "<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th>"
            "<th>p-value</th><th>n ref</th><th>n now</th><th>verdict</th><th>detail</th></tr>"
            f"{rows}</table>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>modelbay report: {esc(data["deployment"])}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111827; }}
h1 {{ font-size: 20px; }} figure {{ margin: 16px 0; }} figcaption {{ font-weight: 600; }}
svg text {{ font-size: 11px; fill: #4b5563; }} svg .legend {{ font-weight: 600; }}
svg polyline {{ fill: none; stroke-width: 2; }} svg .grid {{ stroke: #e5e7eb; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #e5e7eb; padding: 3px 8px; }}
tr.drifted td {{ background: #fee2e2; }} .empty {{ color: #6b7280; }}
</style></head><body>
<h1>Deployment {esc(data["deployment"])}</h1>
<p>Window: last {data["window_s"] / 3600:.3g} h, {data["requests"]} logged requests; generated {esc(data["generated"])}.</p>
<h2>Drift now</h2>{table}
{"".join(charts)}
</body></html>
"""
