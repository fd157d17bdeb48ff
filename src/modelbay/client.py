"""A thin HTTP client for a modelbay server (httpx), speaking Open Inference Protocol v2."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd

from modelbay.errors import (
    ConflictError,
    Forbidden,
    LimitExceeded,
    ModelbayError,
    NotFoundError,
    RateLimited,
    SchemaError,
    StorageError,
    Unauthenticated,
    ValidationError,
)

__all__ = ["Client"]

_ERRORS: dict[int, type[ModelbayError]] = {
    400: SchemaError,
    404: NotFoundError,
    401: Unauthenticated,
    403: Forbidden,
    409: ConflictError,
    413: LimitExceeded,
    422: ValidationError,
    429: RateLimited,
    503: StorageError,
}


def _tensor(name: str, col: pd.Series) -> dict[str, Any]:
    if pd.api.types.is_bool_dtype(col.dtype):
        return {"name": name, "shape": [len(col)], "datatype": "BOOL", "data": col.tolist()}
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = col.astype("float64")
        data = [None if np.isnan(v) else float(v) for v in values.to_numpy()]
        return {"name": name, "shape": [len(col)], "datatype": "FP64", "data": data}
    text = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in col]
    return {"name": name, "shape": [len(col)], "datatype": "BYTES", "data": text}


class Client:
    """``Client(url, key=None).predict("churn", rows)`` — rows as a DataFrame, records or a dict."""

    def __init__(self, url: str, key: str | None = None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot reach the modelbay server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            if response.status_code == 429:
                raise RateLimited(message, float(response.headers.get("retry-after", 1)))
            raise _ERRORS.get(response.status_code, ModelbayError)(message)
        return response.json() if response.content else None

    def ready(self) -> bool:
        return bool(self._call("GET", "/v2/health/ready").get("ready"))

    def metadata(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v2/models/{name}"))

    def infer(self, name: str, body: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
        return dict(self._call("POST", path, json=body))

    def predict(
        self, name: str, rows: Any, *, proba: bool = False, version: int | None = None
    ) -> np.ndarray | tuple[np.ndarray, pd.DataFrame]:
        """Predictions for ``rows``; with ``proba=True`` also a DataFrame of class probabilities."""
        frame = (
            rows
            if isinstance(rows, pd.DataFrame)
            else pd.DataFrame.from_records([rows] if isinstance(rows, dict) else rows)
        )
        body: dict[str, Any] = {"inputs": [_tensor(str(c), frame[c]) for c in frame.columns]}
        if proba:
            body["outputs"] = [{"name": "predict"}, {"name": "predict_proba"}]
        out = {o["name"]: o for o in self.infer(name, body, version)["outputs"]}
        labels = np.asarray(out["predict"]["data"])
        if not proba:
            return labels
        p = out["predict_proba"]
        classes = self.metadata(name)["parameters"].get("classes", "").split(",")
        matrix = np.asarray(p["data"], dtype=np.float64).reshape(p["shape"])
        return labels, pd.DataFrame(matrix, columns=classes[: matrix.shape[1]])
