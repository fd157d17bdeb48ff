"""The naive floor for JSON: a plain Flask app, as a data scientist would first write one.

``gunicorn -w 2 'floor_flask:create_app()'`` (gunicorn's defaults otherwise: sync workers,
one request at a time each). Each request is ``json.loads``-ed, its tensor handed to the
scikit-learn model's ``predict``, and the labels ``jsonify``-ed: no validation, batching,
limits, metrics, log or auth. ``bench/serve.py`` serves the same fitted models with it (the
joblib files it exports for MLflow, BentoML and MLServer, loaded by each worker at start)
and sets modelbay's 1,000-row JSON figure against it.

The body is the Open Inference Protocol's v2 JSON tensor, the very bytes modelbay is sent
(``{"inputs": [{"name", "shape", "datatype", "data": [flat row-major values]}]}``), and
the answer is v2 JSON too: both servers parse and write the same JSON, so what differs is
the server. (A flat list is also cheaper for ``np.asarray`` than ``{"instances": [[...]]}``'s
nested rows, so the floor is, if anything, flattered.) Models come from
``BENCH_FLASK_MODELS`` (JSON: model name -> .joblib path).
"""

from __future__ import annotations

import json
import os
from typing import Any

import joblib
import numpy as np
from flask import Flask, Response, jsonify, request


def create_app(models: str | None = None) -> Flask:
    """The app over the models of ``models`` (JSON: name -> joblib path), by default
    ``BENCH_FLASK_MODELS``; each model is loaded now, once a worker."""
    paths: dict[str, str] = json.loads(models or os.environ["BENCH_FLASK_MODELS"])
    loaded: dict[str, Any] = {name: joblib.load(path) for name, path in paths.items()}
    app = Flask(__name__)

    @app.get("/")
    def ready() -> str:  # the bench's readiness probe
        return "ok"

    @app.post("/v2/models/<name>/infer")
    def infer(name: str) -> Response:
        body = json.loads(request.get_data())
        tensor = body["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
        labels = loaded[name].predict(x)
        return jsonify(
            {
                "model_name": name,
                "outputs": [
                    {
                        "name": "predict",
                        "shape": [len(labels)],
                        "datatype": "INT64",
                        "data": labels.tolist(),
                    }
                ],
            }
        )

    return app
