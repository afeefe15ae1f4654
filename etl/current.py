"""The current files of a source: what a single-source run reads instead of downloading it again.

`python -m etl run insee_logement` refreshes one source, yet the marts that read it also read
other sources. Those are not downloaded: the run reads their current files, the raw copies of
the last live run (under `<out>/raw/`, as the manifest lists them) or, in mirror mode, the
mirror's files. A source whose current files are missing cannot be reused: the run says so
before it downloads anything.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from etl.config import mirror_dir
from etl.sources.base import FetchContext, FetchInfo, Parsed, Source, SourceError, fetch
from etl.store import sha256_file


def reads_mirror(source: Source, mirror: Path | None) -> bool:
    """Whether this source is read from the mirror in this run (mirror mode, or a frozen archive)."""
    return mirror is not None or source.archive


def missing_current(source: Source, *, mirror: Path | None, raw_dir: Path, entry: dict[str, Any] | None,
                    options: dict[str, Any] | None = None) -> str | None:
    """Why `source` has no current files to reuse (a French sentence), or None when it has."""
    if reads_mirror(source, mirror):
        root = Path(mirror) if mirror is not None else mirror_dir()
        ctx = FetchContext(mirror=root, raw_dir=raw_dir, options=options or {}, progress=False)
        try:
            files = [root / r.mirror for r in source.resources(ctx)]
        except SourceError as exc:
            return str(exc)
        absent = [str(p) for p in files if not p.exists()]
        return f"fichier absent du miroir : {', '.join(absent)}" if absent else None
    if entry and entry.get("origine") == "miroir" and entry.get("fichiers"):
        root = mirror_dir()
        for f in entry["fichiers"].values():
            path = root / f["fichier"]
            if not path.is_file():
                return f"ses données actuelles viennent du miroir, et {path} est absent"
            if f.get("sha256") and sha256_file(path) != f["sha256"]:
                return f"ses données actuelles viennent du miroir, et {path} a changé depuis"
        return None
    if not entry or entry.get("origine") != "live" or not entry.get("fichiers"):
        return f"aucune copie d'une récupération en ligne dans {raw_dir}"
    absent = [f["fichier"] for f in entry["fichiers"].values() if not (raw_dir / f["fichier"]).is_file()]
    if absent:
        return f"copie absente de {raw_dir} : {', '.join(absent)}"
    return None


def read_current(source: Source, ctx: FetchContext, entry: dict[str, Any] | None) -> tuple[Parsed, FetchInfo]:
    """Parse the current files of `source` without downloading anything.

    In mirror mode (or for an archive) that is the mirror's copy; in a live run, the files that
    the manifest's entry lists (raw copies, or the mirror's files), with their original retrieval date.
    """
    if reads_mirror(source, ctx.mirror):
        return fetch(source, ctx if ctx.mirror is not None else replace(ctx, mirror=mirror_dir()))
    if entry and entry.get("origine") == "miroir":  # the data came from the mirror: read that file again
        reason = missing_current(source, mirror=None, raw_dir=Path(ctx.raw_dir), entry=entry, options=ctx.options)
        if reason is not None:
            raise SourceError(f"{source.name}: {reason}")
        parsed, info = fetch(source, replace(ctx, mirror=mirror_dir()))
        return parsed, replace(info, retrieved_at=entry.get("recupere_le", info.retrieved_at), unchanged=True)
    reason = missing_current(source, mirror=None, raw_dir=Path(ctx.raw_dir), entry=entry, options=ctx.options)
    if reason is not None:
        raise SourceError(f"{source.name}: {reason}")
    assert entry is not None
    start = time.perf_counter()
    files = {key: Path(ctx.raw_dir) / f["fichier"] for key, f in entry["fichiers"].items()}
    try:
        parsed = source.parse(files, ctx)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"{source.name}: copie actuelle illisible ({type(exc).__name__}: {exc})") from exc
    main = parsed.tables.get("main")
    if main is not None and main.height < source.min_rows:
        raise SourceError(f"{source.name}: {main.height} lignes lues dans la copie actuelle, moins que le minimum "
                          f"plausible ({source.min_rows})")
    info = FetchInfo(source=source.name, origin="live", files=entry["fichiers"],
                     retrieved_at=entry.get("recupere_le", ""), seconds=time.perf_counter() - start, unchanged=True,
                     discovery=entry.get("decouverte"),
                     # the same file as the recorded version: its counts stay the reference of the next drop check
                     measures=entry.get("mesures") or {},
                     previous_measures=(entry.get("controle_baisse") or {}).get("precedent"))
    return parsed, info
