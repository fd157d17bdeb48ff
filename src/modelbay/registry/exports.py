"""Exports: the plain folder a version leaves the registry as, and is read back from.

``modelbay models export REF -o DIR`` writes::

    DIR/
      modelbay-export.json   the manifest: format and format version, the kind, the source
                             ref, each artifact's role, format and path, and the sha256
                             of every other file in the folder
      signature.json         the input columns and the output (Signature.to_dict)
      metadata.json          task, algorithm, flavor, description, metrics, params,
                             lineage, created time, serving report, reference statistics
      model.skops            kind ``skops``: the scikit-learn model (skops, never a pickle)
      model.onnx             kind ``onnx``: the graph; kind ``skops``: its compiled graph
      model/                 kind ``hf``: the Hugging Face directory (config, tokenizer,
                             safetensors or ONNX weights, and modelbay.json: how to run it)

The kind is the format of the version's model artifact (:data:`KINDS`); every other
artifact of the version is written beside it. Nothing in the folder is sealed: it is
for taking a model elsewhere, and each file opens with its own library. As an archive
(``GET /api/models/{name}/export``) it is a tar of the same files under one folder.

:func:`read_export` checks a folder before anything of it is loaded: the manifest is of
a format and version this code knows; exactly the files it lists are there (no more, no
symlinks) with their sha256; none is a pickle. The digests catch a damaged folder, a
file swapped or edited after the export; they are not a signature (whoever can rewrite
the folder can rewrite the manifest), which is why the import then opens every artifact
with its format's own checks (the skops trust list, ONNX Runtime, the bundle checks) and
a text model is run before it is registered (:mod:`modelbay.optimize.export_import`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from modelbay.artifacts.bundle import MANIFEST as BUNDLE_MANIFEST
from modelbay.artifacts.bundle import TextBundle
from modelbay.artifacts.pickles import PICKLE_SUFFIXES, sniff_pickle
from modelbay.data.signature import Signature
from modelbay.errors import UnsafeArtifactError, ValidationError
from modelbay.registry.records import Artifact, ModelVersion

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "MANIFEST",
    "METADATA",
    "SIGNATURE",
    "Export",
    "ExportedArtifact",
    "is_export_archive",
    "read_export",
    "unpack_archive",
    "write_archive",
    "write_export",
]

MANIFEST = "modelbay-export.json"
FORMAT = "modelbay-export"
FORMAT_VERSION = 1
SIGNATURE = "signature.json"
METADATA = "metadata.json"
# the format of a version's model artifact -> how it is written: a file with this suffix,
# or (None) a folder of files
KINDS: dict[str, str | None] = {"skops": ".skops", "onnx": ".onnx", "hf": None}
MAX_FILES = 500


@dataclass(frozen=True)
class ExportedArtifact:
    role: str  # model | onnx | ...
    format: str  # skops | onnx | hf
    path: str  # a file, or a folder (format hf), relative to the export
    sha256: str  # the artifact's digest in the registry it was exported from
    info: dict[str, Any]


@dataclass(frozen=True)
class Export:
    """A checked export folder, in memory: what an import registers."""

    root: Path
    kind: str
    source: dict[str, Any]  # ref, model, version, aliases, exported_at, libraries
    signature: Signature
    metadata: dict[str, Any]
    artifacts: dict[str, ExportedArtifact]
    files: dict[str, bytes]  # relative path -> contents, each matching its manifest digest

    def data(self, role: str) -> bytes:
        """The bytes of a file artifact."""
        return self.files[self.artifacts[role].path]

    def folder(self, role: str) -> dict[str, bytes]:
        """The files of a folder artifact, by their path inside it."""
        prefix = self.artifacts[role].path + "/"
        return {k[len(prefix) :]: v for k, v in self.files.items() if k.startswith(prefix)}


# -- writing -------------------------------------------------------------------------------------
def write_export(
    version: ModelVersion,
    read: Callable[[Artifact], bytes],
    target: Path,
    libraries: dict[str, str],
) -> Path:
    """Write ``version`` to the new folder ``target`` (``read`` opens an artifact's bytes).

    The files are written to a temporary folder beside ``target`` and renamed into place,
    so a failed export leaves nothing; an existing ``target`` must be an empty folder."""
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValidationError(f"{target} exists and is not an empty folder: name a new one")
    if version.artifact_format not in KINDS:
        raise ValidationError(
            f"{version.ref} has a {version.artifact_format!r} model artifact; modelbay exports "
            f"{', '.join(KINDS)}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".modelbay-export-", dir=target.parent))
    try:
        files = _files_of(version, read)
        for rel, data in files.items():
            _write(staging / rel, data)
        _write(staging / MANIFEST, _dumps(_manifest(version, files, libraries)))
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _files_of(version: ModelVersion, read: Callable[[Artifact], bytes]) -> dict[str, bytes]:
    files = {
        SIGNATURE: _dumps(version.signature.to_dict()),
        METADATA: _dumps(
            {
                "task": version.task,
                "algorithm": version.algorithm,
                "flavor": version.flavor,
                "description": version.description,
                "metrics": version.metrics,
                "params": version.params,
                "lineage": version.lineage,
                "created_at": version.created_at.isoformat() if version.created_at else None,
                "serving": version.serving,
                "reference_stats": version.reference_stats,
            }
        ),
    }
    for role, artifact in _ordered(version):
        path = _path_for(version, role, artifact)
        data = read(artifact)
        if KINDS.get(artifact.format, "") is None:  # a folder: the bundle's files
            bundle = TextBundle.from_bytes(data)
            inner = {**bundle.files, BUNDLE_MANIFEST: _dumps(bundle.manifest.to_dict())}
            files.update({f"{path}/{name}": body for name, body in sorted(inner.items())})
        else:
            files[path] = data
    for rel, data in files.items():
        _refuse_pickle(rel, data)  # never written: the formats above hold none
    return files


def _ordered(version: ModelVersion) -> list[tuple[str, Artifact]]:
    arts = dict(version.artifacts)
    model = arts.pop("model")
    return [("model", model), *sorted(arts.items())]


def _path_for(version: ModelVersion, role: str, artifact: Artifact) -> str:
    if artifact.format not in KINDS:
        raise ValidationError(
            f"{version.ref}'s {role!r} artifact is {artifact.format!r}; modelbay exports "
            f"{', '.join(KINDS)}"
        )
    suffix = KINDS[artifact.format] or ""
    if role == "model" or (role == "onnx" and version.artifact_format != "onnx"):
        return f"model{suffix}"  # a scikit-learn model's compiled graph: model.onnx beside it
    return f"{role}{suffix}"


def _manifest(
    version: ModelVersion, files: dict[str, bytes], libraries: dict[str, str]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": version.artifact_format,
        "source": {
            "ref": version.ref,
            "model": version.model,
            "version": version.version,
            "aliases": list(version.aliases),
            "exported_at": datetime.now(UTC).isoformat(),
            "libraries": libraries,
        },
        "artifacts": {
            role: {
                "format": a.format,
                "path": _path_for(version, role, a),
                "sha256": a.digest,
                "info": a.info,
            }
            for role, a in _ordered(version)
        },
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
    }


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, indent=1, sort_keys=True, default=str).encode()


# -- reading -------------------------------------------------------------------------------------
def read_export(path: str | Path) -> Export:
    """Read and check an export folder (see the module docstring); nothing is loaded yet."""
    root = Path(path)
    if not (root / MANIFEST).is_file():
        raise ValidationError(
            f"{root} is not a modelbay export: it has no {MANIFEST} "
            "(write one with `modelbay models export REF -o DIR`)"
        )
    manifest = _object(_read_json((root / MANIFEST).read_bytes(), MANIFEST), MANIFEST)
    _check_format(manifest)
    listed = _object(manifest.get("files"), f"{MANIFEST}'s files")
    files = _verified_files(root, {str(k): str(v) for k, v in listed.items()})
    try:
        signature = Signature.from_dict(_read_json(files[SIGNATURE], SIGNATURE))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(f"{SIGNATURE} is not a model signature: {exc!r}") from exc
    artifacts = _artifacts(manifest, files)
    return Export(
        root=root,
        kind=str(manifest["kind"]),
        source=_object(manifest.get("source"), f"{MANIFEST}'s source"),
        signature=signature,
        metadata=_object(_read_json(files[METADATA], METADATA), METADATA),
        artifacts=artifacts,
        files=files,
    )


def _check_format(manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ValidationError(
            f"{MANIFEST} is of format {manifest.get('format')!r}, not {FORMAT!r}: "
            "this is not a modelbay export"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValidationError(
            f"this export is of format version {manifest.get('format_version')!r}; this "
            f"modelbay reads version {FORMAT_VERSION} (export it again, or upgrade modelbay)"
        )
    if manifest.get("kind") not in KINDS:
        raise ValidationError(
            f"this export holds a model of kind {manifest.get('kind')!r}; modelbay imports "
            f"{', '.join(KINDS)}"
        )


def _verified_files(root: Path, listed: dict[str, str]) -> dict[str, bytes]:
    """Every file but the manifest, each checked against its digest; no more, no fewer."""
    present: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            raise UnsafeArtifactError(f"{rel} is a symbolic link; an export holds plain files")
        if p.is_file() and rel != MANIFEST:
            present[rel] = p
        if len(present) > MAX_FILES:
            raise ValidationError(f"{root} holds more than {MAX_FILES} files: is it an export?")
    unlisted = sorted(set(present) - set(listed))
    if unlisted:
        raise UnsafeArtifactError(
            f"{', '.join(unlisted[:5])} {'is' if len(unlisted) == 1 else 'are'} not part of "
            f"this export (its {MANIFEST} does not list {'it' if len(unlisted) == 1 else 'them'}):"
            " remove what was added, or export the model again"
        )
    missing = sorted(set(listed) - set(present))
    if missing:
        raise UnsafeArtifactError(
            f"this export is incomplete: {', '.join(missing[:5])} missing; export it again"
        )
    for rel in (SIGNATURE, METADATA):
        if rel not in present:
            raise UnsafeArtifactError(f"this export has no {rel}; export it again")
    files: dict[str, bytes] = {}
    for rel, p in present.items():
        data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != listed[rel]:
            raise UnsafeArtifactError(
                f"{rel} was changed after the export (its sha256 is not the one {MANIFEST} "
                "lists); modelbay does not load it: export the model again"
            )
        _refuse_pickle(rel, data)
        files[rel] = data
    return files


def _artifacts(manifest: dict[str, Any], files: dict[str, bytes]) -> dict[str, ExportedArtifact]:
    out: dict[str, ExportedArtifact] = {}
    for role, spec in _object(manifest.get("artifacts"), f"{MANIFEST}'s artifacts").items():
        spec = _object(spec, f"{MANIFEST}'s artifact {role!r}")
        fmt, path = str(spec.get("format")), str(spec.get("path"))
        if fmt not in KINDS:
            raise ValidationError(f"artifact {role!r} is of unknown format {fmt!r}")
        present = (
            path in files
            if KINDS[fmt] is not None
            else any(k.startswith(path + "/") for k in files)
        )
        if not present:
            raise UnsafeArtifactError(f"artifact {role!r} ({path}) is not in this export")
        info = spec.get("info") or {}
        out[str(role)] = ExportedArtifact(
            str(role), fmt, path, str(spec.get("sha256", "")), _object(info, "info")
        )
    if out.get("model") is None or out["model"].format != manifest["kind"]:
        raise ValidationError(f"{MANIFEST} names no {manifest['kind']} model artifact")
    return out


def _refuse_pickle(rel: str, data: bytes) -> None:
    if PurePosixPath(rel).suffix.lower() in PICKLE_SUFFIXES or sniff_pickle(data):
        raise UnsafeArtifactError(
            f"{rel} is a pickle (or named as one), and modelbay never loads pickles "
            "(they run code when opened)"
        )


def _read_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValidationError(f"{name} is not valid JSON: {exc}") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{what} is not a JSON object")
    return value


# -- archives --------------------------------------------------------------------------------------
def write_archive(folder: Path, out: IO[bytes], top: str) -> None:
    """A tar (uncompressed: weights do not compress) of an export folder, under ``top/``."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(Path(folder).rglob("*")):
            if p.is_file():
                info = tarfile.TarInfo(f"{top}/{p.relative_to(folder).as_posix()}")
                info.size, info.mode, info.mtime = p.stat().st_size, 0o644, 0
                with p.open("rb") as f:
                    tar.addfile(info, f)


def is_export_archive(source: bytes | Path) -> bool:
    """True for a tar archive (the form ``GET /api/models/{name}/export`` answers with)."""
    try:
        if isinstance(source, bytes):
            with tarfile.open(fileobj=io.BytesIO(source), mode="r:*"):
                return True
        return source.is_file() and tarfile.is_tarfile(source)
    except (tarfile.TarError, OSError):
        return False


def unpack_archive(source: bytes | Path, dest: Path) -> Path:
    """Extract an export archive's files into ``dest``; returns the export folder in it.

    Only regular files with relative names are taken (a link, a device or a name that
    climbs out is refused), before anything is written."""
    fileobj = io.BytesIO(source) if isinstance(source, bytes) else None
    name = None if isinstance(source, bytes) else str(source)
    with tarfile.open(name=name, fileobj=fileobj, mode="r:*") as tar:
        members = tar.getmembers()
        for m in members:
            parts = PurePosixPath(m.name).parts
            if not (m.isfile() or m.isdir()):
                raise UnsafeArtifactError(f"the archive holds {m.name!r}, which is not a file")
            if m.name.startswith("/") or ".." in parts:
                raise UnsafeArtifactError(f"the archive names a file outside itself: {m.name!r}")
        if len(members) > MAX_FILES + 50:
            raise ValidationError(f"the archive holds more than {MAX_FILES} files")
        for m in members:
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                _write(dest / m.name, f.read())
    tops = {p.parent for p in dest.rglob(MANIFEST)}
    if len(tops) != 1:
        raise ValidationError(f"the archive holds {len(tops)} modelbay exports, not one")
    return tops.pop()
