"""The development secret: a Fernet key kept in a local file (mode 0600), made on
first use and reused after, so that the live sandbox's worker can seal and read
grants without anyone running `oneonone keygen`. Never read when
ONEONONE_SECRET_KEY is set: a configured key always wins."""

from __future__ import annotations

import os
from pathlib import Path

from service.security.crypto import generate_key


def development_secret(path: Path) -> str:
    """The key in `path`, created there (0600, exclusively: two starts at once agree)
    if there is none yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if not key:
            raise ValueError(f"{path} is empty: delete it and a new key is made") from None
        return key
    key = generate_key()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def write_private(path: Path, text: str) -> None:
    """`path` holding `text`, readable by its owner only (it holds a token)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)
