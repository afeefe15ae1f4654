"""Atomic writes of marts and of the manifest.

A reader (the dashboard, another ETL run) must never see a half-written file: every file is
written to a temporary name in the same folder, flushed, then renamed over the old one
(`os.replace` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

MANIFEST_NAME = "manifest.json"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_parquet(df: pl.DataFrame, path: Path, *, row_group_size: int | None = None) -> str:
    """Write `df` atomically as zstd Parquet; return the file's sha256."""
    with atomic_path(path) as tmp:
        df.write_parquet(
            tmp,
            compression="zstd",
            compression_level=19,
            statistics=True,
            row_group_size=row_group_size,
        )
    return sha256_file(path)


def write_json(obj: Any, path: Path) -> None:
    """Write JSON atomically, UTF-8, sorted keys (stable diffs)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest of a data folder, or an empty one."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return {"sources": {}, "marts": {}}
    data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("sources", {})
    data.setdefault("marts", {})
    return data


def update_manifest(out_dir: Path, *, sources: dict[str, Any], marts: dict[str, Any]) -> dict[str, Any]:
    """Merge new entries into the manifest (entries of sources not run are kept as they were)."""
    manifest = read_manifest(out_dir)
    manifest["sources"].update(sources)
    manifest["marts"].update(marts)
    write_json(manifest, Path(out_dir) / MANIFEST_NAME)
    return manifest
