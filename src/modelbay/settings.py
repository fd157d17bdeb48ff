"""The one settings object, read from ``MODELBAY_*`` environment variables at the edge."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


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
