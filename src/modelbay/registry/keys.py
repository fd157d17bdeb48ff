"""The master key: from ``MODELBAY_MASTER_KEY`` or a 0600 key file created on first use."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from modelbay.errors import ConfigError
from modelbay.settings import Settings

__all__ = ["generate_master_key", "key_check_value", "load_master_key"]

KEY_BYTES = 32


def generate_master_key() -> str:
    """A new random master key, base64 encoded (what ``MODELBAY_MASTER_KEY`` takes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode(text: str, origin: str) -> bytes:
    text = text.strip()
    candidates: list[bytes] = []
    if len(text) == 2 * KEY_BYTES:
        try:
            candidates.append(bytes.fromhex(text))
        except ValueError:
            pass
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            candidates.append(decoder(text.encode()))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == KEY_BYTES:
            return key
    raise ConfigError(
        f"{origin} must be {KEY_BYTES} random bytes encoded as base64 or hex; "
        "make one with `modelbay keygen`"
    )


def load_master_key(settings: Settings) -> bytes:
    """Return the 32-byte master key, creating the key file if neither source exists."""
    if settings.master_key is not None:
        return _decode(settings.master_key.get_secret_value(), "MODELBAY_MASTER_KEY")
    path = settings.master_key_file
    if path.exists():
        return _decode(path.read_text(), f"the key file {path}")
    return _create_key_file(path)


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = generate_master_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _decode(path.read_text(), f"the key file {path}")
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return _decode(text, f"the key file {path}")


def key_check_value(key: bytes) -> str:
    """A value that identifies a key without revealing it (stored in the registry)."""
    return hmac.new(key, b"modelbay key check v1", hashlib.sha256).hexdigest()


def derive_key(master: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose (HKDF-SHA256 over the master key); never stored."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"modelbay", info=purpose).derive(master)
