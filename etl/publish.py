"""Publish a data refresh to running dashboards: build into a new folder, switch a symlink atomically.

Layout of the data volume (`--root`, e.g. /srv/observatoire in the containers):

    data-20261130T030000Z/   marts + manifest of one run (raw -> ../raw)
    data-20261201T030000Z/
    current -> data-20261201T030000Z     what the dashboards read (OBSERVATOIRE_DATA=<root>/current)
    raw/                                 download cache shared by the runs

A refresh copies the marts served now into a new folder (a source that fails keeps its previous
marts, as `etl run` does in place), runs `python -m etl run --all` into it, checks every file the
manifest lists (present, same sha256, readable), then renames a new symlink over `current`: one
atomic rename, so a dashboard sees the old folder or the new one, never a mix. The dashboards'
loaders key on the resolved folder (`dashboard.data.version`) and serve the new data at their
next run, without a restart. The folders of older versions are removed, the last `--keep` kept.

    python -m etl.publish init --from data          # first start: the embedded data become current
    python -m etl.publish refresh [-- ETL options]  # one refresh (exit status of `etl run`)
    python -m etl.publish schedule --every-hours 24 # refresh for ever, every 24 hours
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from etl.store import MANIFEST_NAME, read_manifest, sha256_file

CURRENT = "current"
PREFIX = "data-"
#: Files the dashboard cannot start without (the rest is checked against the manifest).
REQUIRED = ("territoires.parquet", "catalogue.parquet", "codes_postaux.parquet", MANIFEST_NAME)


class PublishError(Exception):
    """A refresh that must not be published; the message says why (the current data stay)."""


def current(root: Path) -> Path | None:
    """The folder served now, or None before the first `init`."""
    link = root / CURRENT
    return link.resolve() if link.is_symlink() else None


def switch(root: Path, folder: Path) -> None:
    """Point `current` at `folder` (a sibling) by renaming a new symlink over it: atomic on POSIX."""
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name)  # relative: the volume can be mounted anywhere
    os.replace(tmp, root / CURRENT)


def check(folder: Path) -> list[str]:
    """What is wrong with a data folder (empty list: it can be served)."""
    problems = [f"{name} absent" for name in REQUIRED if not (folder / name).is_file()]
    if problems:
        return problems
    manifest = read_manifest(folder)
    for mart, entry in manifest["marts"].items():
        for rel, meta in entry.get("fichiers", {}).items():
            path = folder / rel
            if not path.is_file():
                problems.append(f"{mart}: {rel} absent")
            elif meta.get("sha256") and sha256_file(path) != meta["sha256"]:
                problems.append(f"{mart}: {rel} differs from its manifest checksum")
    for path in sorted(folder.rglob("*.parquet")):
        if "raw" in path.relative_to(folder).parts:
            continue
        try:
            pl.read_parquet_schema(path)
        except Exception as exc:  # any unreadable file blocks the switch
            problems.append(f"{path.relative_to(folder)}: unreadable ({type(exc).__name__})")
    return problems


def new_folder(root: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = root / f"{PREFIX}{stamp}"
    n = 1
    while folder.exists():
        folder, n = root / f"{PREFIX}{stamp}-{n}", n + 1
    return folder


def _copy_marts(src: Path, dst: Path, root: Path) -> None:
    """The marts of `src` into a new `dst`, and `dst/raw` -> the shared download cache."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("raw", ".*.tmp"), symlinks=False)
    (root / "raw").mkdir(exist_ok=True)
    (dst / "raw").symlink_to(Path("..") / "raw")


def init(root: Path, source: Path) -> Path:
    """First start: publish a copy of `source` (the embedded data) if nothing is served yet."""
    root.mkdir(parents=True, exist_ok=True)
    served = current(root)
    if served is not None and served.is_dir():
        return served
    problems = check(source)
    if problems:
        raise PublishError(f"{source} cannot be served: {'; '.join(problems)}")
    folder = new_folder(root)
    _copy_marts(source, folder, root)
    switch(root, folder)
    return folder


def prune(root: Path, keep: int) -> list[Path]:
    """Remove the oldest data folders, keeping the `keep` newest and the one served."""
    served = current(root)
    folders = sorted(p for p in root.glob(f"{PREFIX}*") if p.is_dir() and not p.is_symlink())
    removed = []
    for folder in folders[:-keep] if keep > 0 else folders:
        if served is not None and folder.resolve() == served:
            continue
        shutil.rmtree(folder)
        removed.append(folder)
    return removed


def refresh(root: Path, etl_args: list[str], *, keep: int = 3, log=print) -> int:
    """One refresh; returns the exit status of `etl run` (0 ok, 1 some sources failed, kept as they were).

    Raises PublishError (nothing switched) when nothing is served yet, when another refresh runs,
    when `etl run` fails as a whole, or when the new folder does not pass `check`.
    """
    served = current(root)
    if served is None or not served.is_dir():
        raise PublishError(f"nothing served under {root}: run `python -m etl.publish init` first")
    lock_path = root / ".refresh.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PublishError("another refresh is running") from exc
        folder = new_folder(root)
        _copy_marts(served, folder, root)
        cmd = [sys.executable, "-m", "etl", "run", "--out", str(folder), "--quiet", *(etl_args or ["--all"])]
        log(f"refresh: {' '.join(cmd[1:])}")
        t0 = time.monotonic()
        status = subprocess.call(cmd)
        if status not in (0, 1):
            shutil.rmtree(folder, ignore_errors=True)
            raise PublishError(f"etl run failed (status {status}); {served.name} is still served")
        problems = check(folder)
        if problems:
            shutil.rmtree(folder, ignore_errors=True)
            raise PublishError(f"{folder.name} not published: {'; '.join(problems[:5])}")
        switch(root, folder)
        log(f"published {folder.name} after {time.monotonic() - t0:.0f} s (etl status {status}); "
            f"previous: {served.name}")
        for old in prune(root, keep):
            log(f"removed {old.name}")
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.environ.get("OBSERVATOIRE_ROOT", "/srv/observatoire"),
                        help="the data volume (default: $OBSERVATOIRE_ROOT or /srv/observatoire)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="serve a copy of the embedded data if nothing is served yet")
    p_init.add_argument("--from", dest="source", default=str(Path(__file__).resolve().parent.parent / "data"))
    for name in ("refresh", "schedule"):
        p = sub.add_parser(name, help="one refresh" if name == "refresh" else "refresh every N hours")
        p.add_argument("--keep", type=int, default=3, help="data folders kept (default 3)")
        if name == "schedule":
            p.add_argument("--every-hours", type=float, default=24)
        p.add_argument("etl_args", nargs=argparse.REMAINDER,
                       help="options of `etl run` after --, e.g. -- --all --mirror /miroir (default: --all)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    etl_args = [a for a in getattr(args, "etl_args", []) if a != "--"]
    try:
        if args.command == "init":
            print(f"served: {init(root, Path(args.source)).name}")
            return 0
        if args.command == "refresh":
            return refresh(root, etl_args, keep=args.keep)
    except PublishError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    while True:  # schedule: a failed refresh is reported and retried at the next period
        time.sleep(args.every_hours * 3600)
        try:
            refresh(root, etl_args, keep=args.keep)
        except PublishError as exc:
            print(f"Error: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
