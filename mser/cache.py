"""A disk cache keyed by file contents and parameters, safe for concurrent writers.

Keys are BLAKE2 digests of the inputs' bytes and of the parameters that shape the
output. Hashing a corpus is the cost of a cache hit, so each file's digest is
remembered against its size, modification time and inode (as git's index does) and
recomputed only when one of those changes. Entries are written to a temporary
folder and renamed into place, so a reader never sees a half-written entry and two
processes building the same entry at once both end up with a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

_DIGEST_INDEX = "digests.json"


def default_cache_dir() -> Path:
    """``$MSER_CACHE_DIR`` if set, else ``~/.cache/mser-search``."""
    return Path(os.environ.get("MSER_CACHE_DIR") or Path.home() / ".cache" / "mser-search")


def digest_bytes(*parts: bytes) -> str:
    """Hex BLAKE2b digest (32 bytes) of the concatenated parts."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def digest_json(value: Any) -> str:
    """Digest of a JSON-able value with sorted keys (for parameter sets)."""
    return digest_bytes(json.dumps(value, sort_keys=True, default=str).encode())


_UNSAFE = re.compile(r"[^\w.-]+")


def folder_name(name: str) -> str:
    """``name`` (an experiment's, a study's: anything a user or a store can choose) as one
    file or folder name that stays inside its parent.

    Runs of characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``,
    leading dots go (no ``..``, no hidden files) and the length is bounded; a name that had
    to change gets a digest of the original, so two names never share a folder.
    """
    safe = _UNSAFE.sub("_", name).lstrip(".")[:80]
    return name if name and safe == name else f"{safe or 'unnamed'}-{digest_bytes(name.encode())[:8]}"


def _file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=32)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(paths: Iterable[Path], cache_dir: Path) -> dict[Path, str]:
    """Content digest of each file, recomputing only files whose stat changed."""
    index_path = cache_dir / _DIGEST_INDEX
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    digests, changed = {}, False
    for path in paths:
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        entry = index.get(str(path))
        if entry and entry[:3] == stamp:
            digests[path] = entry[3]
        else:
            digests[path] = _file_digest(path)
            index[str(path)] = stamp + [digests[path]]
            changed = True
    if changed:
        write_text_atomic(index_path, json.dumps(index))
    return digests


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def publish_dir(staging: Path, final: Path) -> Path:
    """Move a fully written ``staging`` folder to ``final``; if another process won, keep theirs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)
    return final


def staging_dir(final: Path) -> Path:
    """A fresh temporary folder beside ``final``, to fill and then :func:`publish_dir`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
