"""The notations keys are made with: scopes, model lists, rates, quotas and expiries.

``50/s``, ``600/min``; ``1000000/month``, ``5000/day``; ``90d``, ``12h`` or an ISO date.
Each parser says what it expected when the text does not fit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from modelbay.errors import ValidationError
from modelbay.registry.refs import check_name

__all__ = ["SCOPES", "parse_expiry", "parse_models", "parse_quota", "parse_rate", "parse_scopes"]

# ``export`` downloads a model's weights (``GET /api/models/{name}/export``): more than
# ``read`` (metadata) or ``predict`` (answers), and not implied by ``train`` or ``deploy``
SCOPES = ("predict", "read", "deploy", "train", "export", "admin")


_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str | None) -> float | None:
    """``50/s``, ``600/min``, ``1000/h`` (or a bare number per second) -> requests per second."""
    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*([a-z]+))?\s*", str(text).lower())
    if not m or (m.group(2) and m.group(2) not in _UNITS) or float(m.group(1)) <= 0:
        raise ValidationError(f"rate {text!r} is not like 50/s, 600/min or 1000/h (above zero)")
    return float(m.group(1)) / _UNITS[m.group(2) or "s"]


def parse_quota(text: str | None) -> tuple[int | None, str]:
    """``1000000/month`` or ``5000/day`` -> (count, period)."""
    if text is None or text == "":
        return None, "month"
    m = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(month|day))?\s*", str(text).lower())
    if not m or int(m.group(1)) <= 0:
        raise ValidationError(f"quota {text!r} is not like 1000000/month or 5000/day")
    return int(m.group(1)), m.group(2) or "month"


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``90d``, ``12h``, ``30m`` or an ISO date/time -> when the key stops working."""
    if text is None or text == "":
        return None
    now = now or datetime.now(UTC)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text).lower())
    if m:
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return now + timedelta(seconds=float(m.group(1)) * seconds)
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValidationError(
            f"expiry {text!r} is not a duration like 90d, 12h, 30m or an ISO date"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_scopes(scopes: Any) -> list[str]:
    items = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes)]
    items = [s for s in items if s]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown or not items:
        raise ValidationError(
            f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    return [s for s in SCOPES if s in items]


def parse_models(models: Any) -> list[str] | None:
    if models is None or models == "" or models == "*":
        return None
    items = [m.strip() for m in (models.split(",") if isinstance(models, str) else models)]
    return sorted({check_name(m, "model name") for m in items if m})
