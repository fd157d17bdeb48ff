"""Every route of the server and the scope it needs: the one place access is declared.

HTTP routes and gRPC methods are listed here with the scopes that may call them
(any one of them suffices; ``admin`` holds every scope), the path parameter that
names a model (checked against a key's model allow-list: a model outside it
answers 404, as if it did not exist) and the body types they take. The front
(:mod:`modelbay.api.front`) enforces this table before any handler runs; a test
checks that every route of the app and every gRPC method is in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ANY_KEY", "GRPC_METHODS", "PUBLIC", "ROUTES", "GrpcMethod", "Route", "match"]

PUBLIC: tuple[str, ...] = ()  # no key needed
ANY_KEY: tuple[str, ...] = ("*",)  # any valid key
READ_OR_PREDICT = ("predict", "read")
JSON = "application/json"
BINARY = "application/octet-stream"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as FastAPI writes it: /v2/models/{name}/infer
    scopes: tuple[str, ...]
    model: str | None = None  # the path parameter naming a model or deployment
    body: tuple[str, ...] = ()  # content types taken; the first is assumed when none is sent
    fast: str | None = None  # answered by the front itself (the inference hot path)
    upload: bool = False  # a model file: the upload size limit applies, not the body limit
    new_name: bool = False  # the named thing may not exist yet (creating it)
    query: tuple[str, ...] = ()  # query parameters taken (inference routes refuse others)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(
            r"\{(\w+)\}",
            r"(?P<\1>[^/]+?)",
            re.escape(self.path).replace(r"\{", "{").replace(r"\}", "}"),
        )
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))

    @property
    def public(self) -> bool:
        return not self.scopes

    @property
    def needs(self) -> tuple[str, ...]:
        """The scopes admission asks for: one of these, or none (any valid key)."""
        return () if self.scopes == ANY_KEY else self.scopes


# Inference first: the table is searched in order and these are the hot path.
ROUTES: tuple[Route, ...] = (
    Route("POST", "/v2/models/{name}/infer", ("predict",), "name", (JSON, BINARY), "v2"),
    Route(
        "POST",
        "/v1/models/{name}:predict",
        ("predict",),
        "name",
        (JSON,),
        "v1",
        query=("probabilities",),
    ),
    Route("POST", "/v1/embeddings", ("predict",), body=(JSON,), fast="embeddings"),  # model in body
    Route(
        "POST",
        "/v2/models/{name}/versions/{version}/infer",
        ("predict",),
        "name",
        (JSON, BINARY),
        "v2",
    ),
    Route("GET", "/v2/health/live", PUBLIC),
    Route("GET", "/v2/health/ready", PUBLIC),
    Route("GET", "/v2", READ_OR_PREDICT),
    Route("GET", "/v2/", READ_OR_PREDICT),  # as the protocol's OpenAPI writes it; /v2 as its text
    Route("GET", "/v2/models/{name}", READ_OR_PREDICT, "name"),
    Route("GET", "/v2/models/{name}/ready", READ_OR_PREDICT, "name"),
    Route("GET", "/v2/models/{name}/versions/{version}", READ_OR_PREDICT, "name"),
    Route("GET", "/v2/models/{name}/versions/{version}/ready", READ_OR_PREDICT, "name"),
    Route("GET", "/api/models", ("read",)),
    Route("GET", "/api/models/{name}/versions", ("read",), "name"),
    Route(
        "POST",
        "/api/models/{name}/versions",
        ("train",),
        "name",
        (BINARY,),
        upload=True,
        new_name=True,
    ),
    Route("GET", "/api/models/{name}/versions/{version}", ("read",), "name"),
    Route("GET", "/api/models/{name}/export", ("export",), "name"),
    Route("DELETE", "/api/models/{name}", ("admin",), "name"),
    Route("DELETE", "/api/models/{name}/versions/{version}", ("admin",), "name"),
    Route("POST", "/api/models/{name}/versions/{version}/archive", ("deploy",), "name"),
    Route("POST", "/api/models/{name}/versions/{version}/unarchive", ("deploy",), "name"),
    Route("GET", "/api/models/{name}/aliases", ("read",), "name"),
    Route("PUT", "/api/models/{name}/aliases/{alias}", ("deploy",), "name", (JSON,)),
    Route("DELETE", "/api/models/{name}/aliases/{alias}", ("deploy",), "name"),
    Route("DELETE", "/api/datasets/{ref}", ("admin",)),
    Route("GET", "/api/deployments", ("read",)),
    Route("GET", "/api/deployments/{name}", ("read",), "name"),
    Route("PUT", "/api/deployments/{name}", ("deploy",), "name", (JSON,), new_name=True),
    Route("DELETE", "/api/deployments/{name}", ("deploy",), "name"),
    Route("GET", "/api/keys/me", ANY_KEY),
    Route("GET", "/api/keys", ("admin",)),
    Route("POST", "/api/keys", ("admin",), body=(JSON,)),
    Route("GET", "/api/keys/{key}", ("admin",)),
    Route("DELETE", "/api/keys/{key}", ("admin",)),
    Route("POST", "/api/keys/{key}/rotate", ("admin",)),
    Route("GET", "/api/audit", ("admin",)),
    Route("GET", "/metrics", ("read",)),
    Route("POST", "/v1/feedback", ("predict",), body=(JSON,)),
    Route("GET", "/api/monitor/{name}/quality", ("read",), "name"),
    Route("GET", "/api/monitor/{name}/drift", ("read",), "name"),
    Route("GET", "/api/monitor/{name}/drift/history", ("read",), "name"),
    Route("GET", "/api/monitor/{name}/report", ("read",), "name"),
    Route("GET", "/api/alerts/rules", ("read",)),
    Route("PUT", "/api/alerts/rules/{rule}", ("deploy",), body=(JSON,)),
    Route("DELETE", "/api/alerts/rules/{rule}", ("deploy",)),
    Route("GET", "/api/alerts/events", ("read",)),
    Route("GET", "/openapi.json", PUBLIC),
    Route("GET", "/docs", PUBLIC),
    Route("GET", "/docs/oauth2-redirect", PUBLIC),
    Route("GET", "/docs/static/{asset}", PUBLIC),  # the docs pages' scripts, served here
)

_STATIC = {(r.method, r.path): r for r in ROUTES if "{" not in r.path}
_STATIC_PATHS = frozenset(p for _, p in _STATIC)
_TEMPLATED = tuple(r for r in ROUTES if "{" in r.path)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists at all."""
    route = _STATIC.get((method, path))
    if route is not None:
        return route, {}, True
    known = path in _STATIC_PATHS
    for r in _TEMPLATED:
        m = r.regex.match(path)
        if m is not None:
            if r.method == method:
                return r, m.groupdict(), True
            known = True
    return None, {}, known


@dataclass(frozen=True)
class GrpcMethod:
    scopes: tuple[str, ...]
    model: bool = False  # the request's ``name`` field names a model


GRPC_METHODS: dict[str, GrpcMethod] = {
    "ServerLive": GrpcMethod(PUBLIC),
    "ServerReady": GrpcMethod(PUBLIC),
    "ServerMetadata": GrpcMethod(READ_OR_PREDICT),
    "ModelReady": GrpcMethod(READ_OR_PREDICT, model=True),
    "ModelMetadata": GrpcMethod(READ_OR_PREDICT, model=True),
    "ModelInfer": GrpcMethod(("predict",), model=True),
}
