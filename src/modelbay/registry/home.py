"""``Registry``: one modelbay home opened for use — database, sealed store, catalogs.

Servers use this directly; :class:`modelbay.Bay` extends it with training.
"""

from __future__ import annotations

from modelbay.errors import ConfigError
from modelbay.registry.audit import AuditLog
from modelbay.registry.datasets import DatasetCatalog
from modelbay.registry.db import Database
from modelbay.registry.deployments import DeploymentCatalog
from modelbay.registry.keys import derive_key, key_check_value, load_master_key
from modelbay.registry.models import ModelCatalog
from modelbay.registry.runs import RunLog
from modelbay.registry.store import ArtifactStore, LocalBlobStore, Sealer
from modelbay.registry.tables import MetaRow
from modelbay.settings import Settings

__all__ = ["Registry"]


class Registry:
    """A modelbay home: its registry database, its artifact store and its master key."""

    def __init__(self, settings: Settings | None = None, **overrides: object) -> None:
        self.settings = settings if settings is not None else Settings(**overrides)  # type: ignore[arg-type]
        key = load_master_key(self.settings)
        self.db = Database(self.settings.database_url)
        self._check_master_key(key)
        self._master_key = key
        self.store = ArtifactStore(LocalBlobStore(self.settings.artifacts_dir), Sealer(key))
        self.audit = AuditLog(self.db)
        self.datasets = DatasetCatalog(self.db, self.store, self.audit)
        self.models = ModelCatalog(self.db, self.store, self.audit)
        self.runs = RunLog(self.db)
        self.deployments = DeploymentCatalog(self.db, self.audit, self.models)

    def secret(self, purpose: bytes) -> bytes:
        """A key derived from the master key for one purpose (API key hashing, signing)."""
        return derive_key(self._master_key, purpose)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.dispose()

    def _check_master_key(self, key: bytes) -> None:
        check = key_check_value(key)
        with self.db.session() as s:
            row = s.get(MetaRow, "master_key_check")
            if row is None:
                s.add(MetaRow(key="master_key_check", value=check))
            elif row.value != check:
                raise ConfigError(
                    "the master key does not match the one this registry was created with: "
                    "set MODELBAY_MASTER_KEY (or the key file under MODELBAY_HOME) to the original key"
                )

    def gc(self) -> list[str]:
        """Delete artifacts that no dataset or version refers to (left by a crash); run it
        when no registration is in flight. Returns the digests removed."""
        used = self.models.referenced_digests()
        used |= {d.artifact_digest for d in self.datasets.list()}
        removed = [d for d in self.store.digests() if d not in used]
        for digest in removed:
            self.store.delete(digest)
        return removed
