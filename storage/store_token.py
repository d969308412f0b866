"""The bearer token of `tallystream-store`, shared through a file beside its data.

The store always requires a token. Given none (`TALLY_STORE_TOKEN`), it makes one and writes it,
readable by its owner only, to `TALLY_STORE_TOKEN_FILE` (default `<TALLY_CHDB_PATH>/store.token`);
the worker and views processes started with the same settings read it from there, so a local
cluster needs no extra wiring. The token is never logged.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

TOKEN_FILE_NAME: Final = "store.token"  # noqa: S105 - a file name, not a secret
MIN_TOKEN_CHARS: Final = 16


def default_token_file(chdb_path: Path) -> Path:
    """Where the store writes its token when no file is configured: beside the engine's data."""
    return chdb_path / TOKEN_FILE_NAME


def check_token(token: str, source: str) -> str:
    """`token` if it is long enough to stand as a secret; else ValueError naming `source`."""
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ValueError(f"{source}: the store token must be at least {MIN_TOKEN_CHARS} characters, no spaces")
    return token


def read_token_file(path: Path) -> str:
    """The token in `path` (FileNotFoundError if the store has not written it yet)."""
    return check_token(path.read_text(encoding="utf-8"), str(path))


def ensure_token_file(path: Path) -> str:
    """The token in `path`, made (random, mode 0600) if the file does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a copy made with a loose umask: the token is a secret
        return read_token_file(path)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token
