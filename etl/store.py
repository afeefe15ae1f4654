"""Atomic writes of marts and of the manifest, temporary names, the lock of a data folder.

A reader (the dashboard, another ETL run) must never see a half-written file: every file is
written to a temporary name in the same folder, flushed, then renamed over the old one
(`os.replace` is atomic on POSIX within one file system).

Temporary names are unique and say who made them (`.<name>.etl-<pid>-<random>.<suffix>`), so
that two processes never share one, and a later run can tell its own leftovers (a `kill -9`
leaves them) from another process's live files: `clean_stale_temps` removes only ours, only
when their process is gone or they are old. One run at a time writes a folder: `lock_folder`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".etl.lock"
#: Temporary files of ours: `.<name>.etl-<pid>-<8 random characters><suffix>`.
TEMP_RE = re.compile(r"^\..+\.etl-(?P<pid>\d+)-[a-z0-9_]{8}\.[a-z]+$")
#: Temporary folders of ours in the system's temporary folder (large extractions).
TEMP_DIR_PREFIX = "observatoire-etl-"
TEMP_DIR_RE = re.compile(r"^observatoire-etl-(?P<pid>\d+)-")
#: A temporary file older than this is stale even if a process of that number is alive (reused pid).
STALE_AFTER_S = 24 * 3600


class StoreError(RuntimeError):
    """A data folder that cannot be used as it is (locked, unreadable manifest); the message says why."""


class FolderLocked(StoreError):
    """Another run holds the folder's lock; the message names it (process, host, start, command)."""


def temp_file(dest: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new, unique temporary file next to `dest` (open descriptor, path), named as ours."""
    fd, name = tempfile.mkstemp(prefix=f".{Path(dest).name}.etl-{os.getpid()}-", suffix=suffix,
                                dir=Path(dest).parent)
    return fd, Path(name)


def temp_dir_prefix(label: str) -> str:
    """Prefix of a temporary folder in the system's temporary folder, named as ours (see `clean_stale_temps`)."""
    return f"{TEMP_DIR_PREFIX}{os.getpid()}-{label}-"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = temp_file(path, ".tmp")
    os.close(fd)
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
    """The manifest of a data folder, or an empty one; an unreadable one is a `StoreError`, never `{}`.

    Reading a damaged manifest as empty would let the next run forget every other source's
    record and every previous count it compares with.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return {"sources": {}, "marts": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"manifeste illisible : {path} ({type(exc).__name__}) ; reconstruire le dossier "
                         "(python -m etl run --all) ou remettre sa dernière version") from exc
    if not isinstance(data, dict):
        raise StoreError(f"manifeste illisible : {path} (pas un objet JSON)")
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


# -- leftovers of interrupted runs ---------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether a process of this number runs on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _stale(pid: int, mtime: float, now: float, max_age: float) -> bool:
    return pid != os.getpid() and (not pid_alive(pid) or now - mtime > max_age)


def clean_stale_temps(folder: Path, *, system_temp: bool = True, max_age: float = STALE_AFTER_S) -> list[Path]:
    """Remove our temporary files under `folder` (and our folders in the system's temporary folder)
    whose process is gone, or older than `max_age`; return what was removed.

    Only names of our pattern are touched; another live process's files are left alone.
    """
    removed: list[Path] = []
    now = time.time()
    for root, _dirs, files in os.walk(folder):
        for name in files:
            m = TEMP_RE.match(name)
            if not m:
                continue
            path = Path(root) / name
            try:
                if _stale(int(m["pid"]), path.stat().st_mtime, now, max_age):
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
    if system_temp:
        base = Path(tempfile.gettempdir())
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                m = TEMP_DIR_RE.match(entry.name)
                if not m or not entry.is_dir() or entry.is_symlink():
                    continue
                try:
                    if _stale(int(m["pid"]), entry.stat().st_mtime, now, max_age):
                        shutil.rmtree(entry)
                        removed.append(entry)
                except OSError:
                    continue
    return removed


# -- one run at a time ---------------------------------------------------------------------------
@dataclass
class Lock:
    """A held lock on a data folder; `taken_over` describes a previous holder that died holding it."""

    path: Path
    fd: int
    holder: dict[str, Any]
    taken_over: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def describe_holder(holder: dict[str, Any]) -> str:
    """« processus 1234 sur l'hôte h, commencé le …, commande … » from a lock file's content."""
    parts = [f"processus {holder.get('pid', '?')} sur l'hôte {holder.get('hote', '?')}",
             f"commencé le {holder.get('debut', '?')}"]
    if holder.get("commande"):
        parts.append(f"commande : {holder['commande']}")
    return ", ".join(parts)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 1 << 16).decode("utf-8", "replace")
        data = json.loads(text) if text.strip() else {}
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def acquire_lock(folder: Path) -> Lock:
    """Take the lock of a data folder, or raise `FolderLocked` naming who holds it.

    The lock is an `flock` on `<folder>/.etl.lock`: the system releases it when its process dies,
    even by `kill -9`, so a dead run never blocks the next; the file says who holds it. A file
    left by a dead process is taken over, and `taken_over` says whose it was.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            who = describe_holder(holder) if holder else "un autre processus"
            raise FolderLocked(f"le dossier {folder} est déjà en cours de mise à jour ({who}) ; attendre la fin "
                               "de ce lancement, puis relancer") from None
        # the file we locked may have been removed by its previous holder meanwhile: start again
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_holder(fd)
        holder = {"pid": os.getpid(), "hote": socket.gethostname(),
                  "debut": datetime.now(UTC).isoformat(timespec="seconds"), "commande": _command()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder, ensure_ascii=False).encode("utf-8"))
        os.fsync(fd)
        lock = Lock(path=path, fd=fd, holder=holder, taken_over=previous or None)
        if previous:
            lock.notes.append(f"verrou laissé par un lancement interrompu ({describe_holder(previous)}) : repris")
        return lock
    raise FolderLocked(f"le verrou {path} change sans cesse de main ; relancer")


def _command() -> str:
    args = list(sys.argv)
    if args and args[0].endswith(os.path.join("etl", "__main__.py")):
        args[0] = "python -m etl"
    return " ".join(args)[:300]


def release_lock(lock: Lock) -> None:
    """Remove the lock file, then release the lock (in that order: see `acquire_lock`)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock.path)
    os.close(lock.fd)


@contextlib.contextmanager
def lock_folder(folder: Path) -> Iterator[Lock]:
    """Hold the lock of a data folder for the block (see `acquire_lock`)."""
    lock = acquire_lock(folder)
    try:
        yield lock
    finally:
        release_lock(lock)
