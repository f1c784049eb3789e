"""The worker's key store for the staging pool.

Private keys live only as files in POOL_KEY_DIR, which only the Celery worker mounts (docs/operations.md).
The web process seals with public keys read from the database and never calls `private_key_load`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings
from nacl.public import PrivateKey


class KeyMissing(Exception):
    """The private key of a pool key is not in this process's key directory."""


def _key_dir() -> Path:
    path = Path(settings.POOL_KEY_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _key_path(key_id: uuid.UUID) -> Path:
    return _key_dir() / f"{key_id}.key"


def private_key_create(key_id: uuid.UUID) -> bytes:
    """Generate a key pair, keep the private half as a 0600 file, return the public half."""
    private = PrivateKey.generate()
    path = _key_path(key_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(private))
        fh.flush()
        os.fsync(fh.fileno())
    return bytes(private.public_key)


def private_key_load(key_id: uuid.UUID) -> PrivateKey:
    try:
        return PrivateKey(_key_path(key_id).read_bytes())
    except FileNotFoundError:
        raise KeyMissing(f"no private key for pool key {key_id} in POOL_KEY_DIR") from None


def private_key_destroy(key_id: uuid.UUID) -> None:
    """Overwrite, then unlink: once released, nothing should be able to open that window's pool again."""
    path = _key_path(key_id)
    try:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.write(os.urandom(size))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
    except FileNotFoundError:
        return


def private_key_ids() -> set[uuid.UUID]:
    ids = set()
    for path in _key_dir().glob("*.key"):
        try:
            ids.add(uuid.UUID(path.stem))
        except ValueError:
            continue
    return ids
