"""What needs a registry object, asked before it is deleted, archived or moved away.

A version is needed by the aliases that point at it and by the deployments that serve
it now (pinned as ``wine:2``, or following ``wine`` / ``wine@latest`` to it); an alias
by the deployments that follow it (``wine@champion``); a model by every deployment over
it. An artifact is needed while any version or dataset refers to it: the store is
content-addressed, so two versions (or a version and a dataset) may share one blob.

Every function here runs inside the caller's session, so the check and the change it
guards are one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelbay.registry.tables import (
    AliasRow,
    ArchivedVersionRow,
    DatasetRow,
    DeploymentRow,
    VersionArtifactRow,
    VersionRow,
)

__all__ = [
    "CHAMPION",
    "alias_followers",
    "default_version",
    "model_deployments",
    "unreferenced",
    "version_needs",
]

CHAMPION = "champion"


def model_deployments(s: Session, model: str) -> list[str]:
    """Deployments over any version or alias of ``model``, by name."""
    query = select(DeploymentRow.name).where(
        or_(
            DeploymentRow.model == model,
            DeploymentRow.model.startswith(f"{model}@", autoescape=True),
            DeploymentRow.model.startswith(f"{model}:", autoescape=True),
        )
    )
    return sorted(s.scalars(query))


def alias_followers(s: Session, model: str, alias: str) -> list[str]:
    """Deployments that serve ``model@alias`` (they break if the alias goes)."""
    query = select(DeploymentRow.name).where(DeploymentRow.model == f"{model}@{alias}")
    return sorted(s.scalars(query))


def default_version(s: Session, model_id: int, *, champion: bool = True) -> VersionRow | None:
    """What ``wine`` means (its champion, else its newest version not archived), or with
    ``champion=False`` what ``wine@latest`` means."""
    alias = s.get(AliasRow, (model_id, CHAMPION)) if champion else None
    if alias is not None:
        return s.get(VersionRow, alias.version_id)
    return s.scalars(
        select(VersionRow)
        .where(
            VersionRow.model_id == model_id,
            VersionRow.id.not_in(select(ArchivedVersionRow.version_id)),
        )
        .order_by(VersionRow.version.desc())
    ).first()


def version_needs(s: Session, model: str, row: VersionRow) -> list[str]:
    """The aliases and deployments that need this version, as ``alias wine@champion`` and
    ``deployment wine-prod`` phrases (empty when nothing does)."""
    aliases = sorted(s.scalars(select(AliasRow.name).where(AliasRow.version_id == row.id)))
    needs = [f"alias {model}@{a}" for a in aliases]
    for name, ref in s.execute(
        select(DeploymentRow.name, DeploymentRow.model).where(
            DeploymentRow.model.in_([model, f"{model}@latest", f"{model}:{row.version}"])
        )
    ):
        if ref == f"{model}:{row.version}":
            needs.append(f"deployment {name}")
            continue
        target = default_version(s, row.model_id, champion=ref == model)
        if target is not None and target.id == row.id:
            needs.append(f"deployment {name}")
    return needs


def unreferenced(s: Session, digests: Iterable[str]) -> set[str]:
    """Those of ``digests`` no version, version artifact or dataset refers to any more."""
    left = set(digests)
    if not left:
        return left
    for column in (
        VersionRow.artifact_digest,
        VersionArtifactRow.digest,
        DatasetRow.artifact_digest,
    ):
        used = s.scalars(select(column).where(column.in_(left)).distinct())
        left -= set(used)
    return left
