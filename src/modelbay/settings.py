"""The one settings object, read from ``MODELBAY_*`` environment variables at the edge."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "auto_workers", "usable_cpus", "worker_cpus"]

MAX_AUTO_WORKERS = 8  # `serve` without --workers: one process per usable CPU, up to this


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, so ``taskset`` is honoured)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def auto_workers() -> int:
    """How many processes ``modelbay serve`` starts when not told: one per usable CPU (a
    Python process serves on about one core, its GIL's), at most ``MAX_AUTO_WORKERS``."""
    return min(MAX_AUTO_WORKERS, usable_cpus())


def worker_cpus(workers: int = 1) -> int:
    """The CPUs one server process should use for its models: the usable ones, shared by
    the ``workers`` processes of one server (never none)."""
    return max(1, usable_cpus() // max(1, workers))


class Settings(BaseSettings):
    """Where modelbay keeps its metadata, artifacts and master key.

    ``database_url`` defaults to a SQLite file under ``home`` and ``artifacts`` to a
    folder under ``home``. ``master_key`` (``MODELBAY_MASTER_KEY``, 32 bytes as base64
    or hex) wins over the key file ``home/master.key``, created on first use (mode 0600).
    """

    model_config = SettingsConfigDict(env_prefix="MODELBAY_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".modelbay")
    database_url: str = ""
    artifacts: Path | None = None
    master_key: SecretStr | None = None

    # serving
    host: str = "127.0.0.1"  # the address `modelbay serve` binds
    port: int = 8000
    workers: int = 0  # `modelbay serve` processes; 0: one per usable CPU (at most 8)
    ssl_certfile: Path | None = None  # TLS: both or neither
    ssl_keyfile: Path | None = None
    log_level: str = "warning"  # uvicorn's
    max_body_mb: float = 16.0  # larger request bodies get 413
    max_upload_mb: float = 512.0  # larger model uploads get 413
    max_rows: int = 100_000  # rows in one inference request
    max_tensor_elements: int = 10_000_000  # elements in one input tensor
    max_json_depth: int = 32  # nesting of JSON arrays and objects in a request body
    request_timeout_s: float = 30.0  # a request still running after this gets 504
    max_loaded_models: int = 16  # loaded versions per server process (LRU)
    max_model_memory_mb: float = 2048.0  # artifact bytes loaded per process (LRU)
    poll_interval_s: float = 1.0  # how often a server checks the registry for alias moves
    model_threads: int = 2  # threads that run model calls per server process
    max_text_inputs: int = 2048  # texts in one /v1/embeddings request (OpenAI's limit)
    max_text_chars: int = 100_000  # characters in one text; longer ones get 413
    grpc_port: int = 0  # 0: no gRPC; else the Open Inference Protocol over gRPC on this port
    grpc_host: str = "127.0.0.1"

    # monitoring
    log_sample: float = 1.0  # share of inference requests written to the prediction log
    log_rows_per_request: int = 100  # larger requests are logged every k-th row
    log_rows_per_s: float = 5_000  # rows logged a second, past one a request (strides more)
    log_queue: int = 10_000  # entries waiting to be written; past it they are dropped (counted)
    log_retention_days: float = 30.0
    log_max_rows: int = 1_000_000
    metrics_dir: Path | None = None  # where worker processes publish metrics (set by `serve`)
    alert_interval_s: float = 30.0  # how often alert rules are evaluated (0: never, here)

    # security
    auth: bool = True  # API keys required; off only with `modelbay serve --no-auth` on loopback
    admin_key: SecretStr | None = None  # registered as the "admin" key on first start
    key_poll_interval_s: float = 0.5  # how often a server checks for revoked or new keys

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'modelbay.db'}"
        if self.artifacts is None:
            self.artifacts = self.home / "artifacts"
        else:
            self.artifacts = self.artifacts.expanduser()
        return self

    @property
    def artifacts_dir(self) -> Path:
        assert self.artifacts is not None  # filled by the validator
        return self.artifacts

    @property
    def master_key_file(self) -> Path:
        return self.home / "master.key"
