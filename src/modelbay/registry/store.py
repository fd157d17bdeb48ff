"""The artifact store: content-addressed, sealed (zstd + AES-256-GCM), written atomically.

An artifact is addressed by the sha256 of its plaintext. On disk (or in any
:class:`BlobStore`) it is kept *sealed*::

    b"MBA1" | flags (1) | sha256 (32) | wrapped data key (40) | nonce (12) | ciphertext + tag

Each artifact has its own random AES-256 data key, wrapped (RFC 3394) by the
master key. The header is authenticated as associated data, so a blob copied
under another address, a flipped byte or a truncation is refused before anything
is decompressed or deserialized; after opening, the plaintext's sha256 is checked
against the address once more.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from modelbay.errors import DecryptionError, IntegrityError, StorageError

__all__ = ["ArtifactStore", "BlobStore", "LocalBlobStore", "PutResult", "Sealer"]

MAGIC = b"MBA1"
FLAG_ZSTD = 0x01
_HEADER = len(MAGIC) + 1 + 32 + 40 + 12
_TAG = 16


class BlobStore(Protocol):
    """Where sealed bytes live. Local folder now; an S3 bucket implements the same five calls."""

    def write(self, key: str, data: bytes) -> None: ...  # atomic and durable on return
    def read(self, key: str) -> bytes: ...  # raises IntegrityError if missing
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> Iterator[str]: ...


class LocalBlobStore:
    """Blobs as files ``root/ab/cdef…``: temp file + fsync + rename + fsync of the folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"artifact {key[:12]} is missing from {self.root}") from None
        except OSError as exc:
            raise StorageError(f"cannot read artifact {key[:12]}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith("."):
                        yield sub.name + f.name


class Sealer:
    """Compress then encrypt (and the reverse) under one master key."""

    def __init__(self, master_key: bytes, *, level: int = 3) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._kek = master_key
        self._level = level

    def seal(self, data: bytes, digest: str, timings: dict[str, float] | None = None) -> bytes:
        t0 = time.perf_counter()
        body = zstandard.ZstdCompressor(level=self._level).compress(data)
        t1 = time.perf_counter()
        dek = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        head = MAGIC + bytes([FLAG_ZSTD]) + bytes.fromhex(digest)
        sealed = (
            head + aes_key_wrap(self._kek, dek) + nonce + AESGCM(dek).encrypt(nonce, body, head)
        )
        if timings is not None:
            timings["compress_s"] = timings.get("compress_s", 0.0) + t1 - t0
            timings["encrypt_s"] = timings.get("encrypt_s", 0.0) + time.perf_counter() - t1
        return sealed

    def open(self, sealed: bytes, digest: str) -> bytes:
        short = digest[:12]
        if len(sealed) < _HEADER + _TAG or sealed[:4] != MAGIC:
            raise IntegrityError(f"artifact {short} is truncated or not a modelbay artifact")
        head = sealed[:37]
        if head[5:37].hex() != digest:
            raise IntegrityError(f"artifact {short} holds another artifact's content")
        wrapped, nonce, body = sealed[37:77], sealed[77:89], sealed[89:]
        try:
            dek = aes_key_unwrap(self._kek, wrapped)
        except InvalidUnwrap:
            raise DecryptionError(
                f"artifact {short} cannot be decrypted: the master key is not the one it was "
                "written with (check MODELBAY_MASTER_KEY or the key file)"
            ) from None
        try:
            plain = AESGCM(dek).decrypt(nonce, body, head)
        except InvalidTag:
            raise IntegrityError(
                f"artifact {short} failed its authentication check: it was altered or truncated"
            ) from None
        if head[4] & FLAG_ZSTD:
            try:
                plain = zstandard.ZstdDecompressor().decompress(plain)
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"artifact {short} cannot be decompressed: {exc}") from exc
        if hashlib.sha256(plain).hexdigest() != digest:
            raise IntegrityError(f"artifact {short} does not match its sha256 checksum")
        return plain


@dataclass
class PutResult:
    digest: str
    size: int
    stored_size: int
    created: bool  # False when the same content was stored already
    timings: dict[str, float] = field(default_factory=dict)


class ArtifactStore:
    """Content-addressed sealed artifacts over a :class:`BlobStore`."""

    def __init__(self, blobs: BlobStore, sealer: Sealer) -> None:
        self.blobs = blobs
        self._sealer = sealer

    def put(self, data: bytes) -> PutResult:
        digest = hashlib.sha256(data).hexdigest()
        if self.blobs.exists(digest):
            return PutResult(digest, len(data), -1, created=False)
        timings: dict[str, float] = {}
        sealed = self._sealer.seal(data, digest, timings)
        t0 = time.perf_counter()
        self.blobs.write(digest, sealed)
        timings["write_s"] = time.perf_counter() - t0
        return PutResult(digest, len(data), len(sealed), created=True, timings=timings)

    def get(self, digest: str) -> bytes:
        return self._sealer.open(self.blobs.read(digest), digest)

    def exists(self, digest: str) -> bool:
        return self.blobs.exists(digest)

    def delete(self, digest: str) -> None:
        self.blobs.delete(digest)

    def digests(self) -> Iterator[str]:
        return self.blobs.keys()
