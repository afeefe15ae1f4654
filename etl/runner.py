"""One ETL run: fetch the sources asked for, rebuild the marts that read them, write the manifest.

A source that fails (download, parse, validation, a drop against its previous version, or any
unexpected error of its module) is reported and the marts that read it are not rebuilt: their
previous files stay as they were. Everything else goes on.

A run holds the lock of its output folder (a second run into the same folder stops and says
who holds it) and starts by removing the temporary files that interrupted runs left there.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from etl import registry
from etl.indicators import catalogue_frame, conform
from etl.marts.base import BuildContext
from etl.sources.base import AbsentFromMirror, FetchContext, Parsed, SourceError, fetch
from etl.store import clean_stale_temps, lock_folder, read_manifest, update_manifest, write_parquet


@dataclass
class SourceReport:
    name: str
    status: str  # "ok", "inchangé", "absent" (live-only source, mirror run), "erreur"
    rows_read: int = 0
    rejected: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    error: str | None = None
    note: str | None = None


@dataclass
class MartReport:
    name: str
    status: str  # "ok", "ignoré", "erreur"
    rows_written: int = 0
    rejected: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    sources: list[SourceReport] = field(default_factory=list)
    marts: list[MartReport] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # about the run itself (lock taken over, leftovers removed)

    @property
    def ok(self) -> bool:
        return all(s.status != "erreur" for s in self.sources) and all(m.status == "ok" for m in self.marts)

    def errors(self) -> list[str]:
        return [s.error for s in self.sources if s.error] + [m.error for m in self.marts if m.error]


def plan(
    source_names: list[str] | None, out_dir: Path, options: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """Which sources to fetch and which marts to build, in order.

    A mart's optional sources are fetched when named, or when selected by the run options
    (`Source.selected`, for example `--vtc-source`).
    """
    sources = registry.sources()
    marts = registry.marts()
    options = options or {}
    if source_names:
        unknown = [s for s in source_names if s not in sources]
        if unknown:
            raise SourceError(f"source(s) inconnue(s) : {', '.join(unknown)} (voir `python -m etl list`)")
        wanted = {m.name for m in marts.values() if set(m.sources + m.optional_sources) & set(source_names)}
    else:
        wanted = set(marts)
    built = set(read_manifest(out_dir)["marts"])
    # a mart needs the marts it requires: build those too when they are absent from `out_dir`
    changed = True
    while changed:
        changed = False
        for name in list(wanted):
            for req in registry.requires_of(name):
                if req not in wanted and req not in built:
                    wanted.add(req)
                    changed = True
    order = registry.build_order(wanted)
    needed = set(source_names or []) | {s for m in order for s in marts[m].sources}
    needed |= {s for m in order for s in marts[m].optional_sources if sources[s].selected(options)}
    return sorted(needed), order


def run(
    source_names: list[str] | None = None,
    *,
    out_dir: Path,
    mirror: Path | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    session: requests.Session | None = None,
    download_kwargs: dict[str, Any] | None = None,
    accept_drop: Iterable[str] = (),
) -> RunReport:
    """Run the ETL into `out_dir` under its lock (`etl.store.FolderLocked` when another run holds it).

    `accept_drop` names the sources whose fall against their previous version is accepted.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accept_drop = frozenset(accept_drop)
    unknown = sorted(accept_drop - set(registry.sources()))
    if unknown:
        raise SourceError(f"--accepter-baisse : source(s) inconnue(s) : {', '.join(unknown)} (voir `python -m etl list`)")
    # a raw cache shared between data folders (a symlink, as etl.publish makes) is locked and cleaned too
    raw = out_dir / "raw"
    shared_raw = raw.resolve() if raw.is_symlink() else None
    with lock_folder(out_dir) as lock, (lock_folder(shared_raw) if shared_raw else contextlib.nullcontext()) as raw_lock:
        report = RunReport(notes=list(lock.notes) + (raw_lock.notes if raw_lock else []))
        removed = clean_stale_temps(out_dir)
        if shared_raw:
            removed += clean_stale_temps(shared_raw, system_temp=False)
        if removed:
            report.notes.append(f"{len(removed)} fichier(s) temporaire(s) laissé(s) par un lancement interrompu, "
                                f"supprimé(s) : {', '.join(p.name for p in removed[:5])}{' …' if len(removed) > 5 else ''}")
        return _run(source_names, out_dir=out_dir, mirror=mirror, options=options or {}, progress=progress,
                    session=session, download_kwargs=download_kwargs or {}, accept_drop=accept_drop, report=report)


def _run(source_names: list[str] | None, *, out_dir: Path, mirror: Path | None, options: dict[str, Any],
         progress: bool, session: requests.Session | None, download_kwargs: dict[str, Any],
         accept_drop: frozenset[str], report: RunReport) -> RunReport:
    start = time.perf_counter()
    previous = read_manifest(out_dir)["sources"]
    needed, order = plan(source_names, out_dir, options)
    fctx = FetchContext(
        mirror=Path(mirror) if mirror else None,
        raw_dir=out_dir / "raw",
        options=options,
        session=session,
        progress=progress,
        download_kwargs=download_kwargs,
        previous=previous,
        accept_drop=accept_drop,
    )
    all_sources = registry.sources()
    parsed: dict[str, Parsed] = {}
    manifest_sources: dict[str, Any] = {}
    for name in tqdm(needed, desc="sources", unit="source", disable=not progress or None):
        src = all_sources[name]
        t0 = time.perf_counter()
        try:
            result, info = fetch(src, fctx)
        except AbsentFromMirror as exc:  # a live-only source: not an error unless it was asked for by name
            status = "erreur" if name in (source_names or []) else "absent"
            report.sources.append(SourceReport(name, status, seconds=time.perf_counter() - t0,
                                               error=str(exc) if status == "erreur" else None, note=str(exc)))
            continue
        except SourceError as exc:
            report.sources.append(SourceReport(name, "erreur", seconds=time.perf_counter() - t0, error=str(exc)))
            continue
        except Exception as exc:  # a bug or an unforeseen failure in one source must not stop the others
            report.sources.append(SourceReport(name, "erreur", seconds=time.perf_counter() - t0,
                                               error=f"{name}: erreur inattendue ({type(exc).__name__}: {exc})"))
            continue
        parsed[name] = result
        note = None
        if info.drop_accepted:
            note = "baisse acceptée (--accepter-baisse) : " + " ; ".join(d.describe() for d in info.drops)
        report.sources.append(
            SourceReport(name, "inchangé" if info.unchanged else "ok", result.rows_read, result.rejected, info.seconds,
                         note=" ; ".join(n for n in (note, (info.discovery or {}).get("resume")) if n) or None)
        )
        manifest_sources[name] = {
            **src.describe(),
            **({"nature": result.nature} if result.nature else {}),
            **({"millesime": result.vintage} if result.vintage else {}),
            "origine": info.origin,
            "fichiers": info.files,
            "recupere_le": info.retrieved_at,
            "lignes_lues": result.rows_read,
            "lignes_rejetees": dict(result.rejected),
            "notes": result.notes,
            "mesures": info.measures,
            # what the drop check compared (the previous version depends on the folder's history)
            "controle_baisse": {
                "seuil": src.max_drop,
                "precedent": info.previous_measures,
                "baisses": [{"mesure": d.measure, "avant": d.before, "apres": d.after} for d in info.drops],
                "acceptee": info.drop_accepted,
            },
            **({"decouverte": info.discovery} if info.discovery else {}),
        }

    manifest_marts: dict[str, Any] = {}
    all_marts = registry.marts()
    failed: set[str] = set()
    bctx = BuildContext(out_dir=out_dir, options=options, progress=progress)
    for name in tqdm(order, desc="marts", unit="mart", disable=not progress or None):
        mart = all_marts[name]
        missing = [s for s in mart.sources if s not in parsed] + [r for r in registry.requires_of(name) if r in failed]
        if missing:
            failed.add(name)
            report.marts.append(
                MartReport(name, "ignoré", error=f"{name}: non reconstruit, entrée(s) en échec : {', '.join(missing)}")
            )
            continue
        t0 = time.perf_counter()
        try:
            inputs = [*mart.sources, *(s for s in mart.optional_sources if s in parsed)]
            result = mart.build(bctx, {s: parsed[s] for s in inputs})
            files: dict[str, Any] = {}
            rows = 0
            tables = dict(result.tables)
            if result.indicateurs is not None:
                tables[f"indicateurs/{name}.parquet"] = conform(result.indicateurs)
            for rel, df in tables.items():
                sha = write_parquet(df, out_dir / rel)
                files[rel] = {"lignes": df.height, "sha256": sha}
                rows += df.height
        except Exception as exc:  # a broken mart must not stop the others
            failed.add(name)
            report.marts.append(
                MartReport(name, "erreur", seconds=time.perf_counter() - t0, error=f"{name}: {type(exc).__name__}: {exc}")
            )
            continue
        report.marts.append(
            MartReport(name, "ok", rows, result.rejected, time.perf_counter() - t0, notes=result.notes)
        )
        manifest_marts[name] = {
            "titre": mart.title,
            "sources": list(mart.sources),
            "fichiers": files,
            "lignes_rejetees": dict(result.rejected),
            "notes": result.notes,
            "construit_le": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    # the manifest describes the data in the folder: a source is recorded only when a mart that
    # reads it was rebuilt (or when no mart reads it), so a failed run leaves it as it was
    used = {s for m in manifest_marts.values() for s in m["sources"]}
    read_by_some_mart = {s for m in all_marts.values() for s in m.sources}
    manifest_sources = {k: v for k, v in manifest_sources.items() if k in used or k not in read_by_some_mart}
    write_parquet(catalogue_frame(registry.all_indicators()), out_dir / "catalogue.parquet")
    update_manifest(out_dir, sources=manifest_sources, marts=manifest_marts)
    report.seconds = time.perf_counter() - start
    return report


def format_report(report: RunReport) -> str:
    """The summary printed at the end of `python -m etl run`."""
    lines = ["", "Résumé", "======"]
    lines += [f"note : {n}" for n in report.notes]
    lines += [f"{'source':<28}{'état':<10}{'lues':>12}{'rejetées':>10}{'durée':>9}"]
    for s in report.sources:
        lines.append(f"{s.name:<28}{s.status:<10}{_n(s.rows_read):>12}{_n(sum(s.rejected.values())):>10}{s.seconds:>8.1f}s")
        for reason, n in sorted(s.rejected.items()):
            lines.append(f"    rejet : {reason} : {_n(n)}")
        if s.error:
            lines.append(f"    ERREUR : {s.error}")
        elif s.note:
            lines.append(f"    note : {s.note}")
    lines.append("")
    lines.append(f"{'mart':<28}{'état':<10}{'écrites':>12}{'rejetées':>10}{'durée':>9}")
    for m in report.marts:
        lines.append(f"{m.name:<28}{m.status:<10}{_n(m.rows_written):>12}{_n(sum(m.rejected.values())):>10}{m.seconds:>8.1f}s")
        for reason, n in sorted(m.rejected.items()):
            lines.append(f"    rejet : {reason} : {_n(n)}")
        for note in m.notes:
            lines.append(f"    note : {note}")
        if m.error:
            lines.append(f"    ERREUR : {m.error}")
    lines.append("")
    lines.append(f"Durée totale : {report.seconds:.1f} s — {'succès' if report.ok else 'avec erreurs'}")
    return "\n".join(lines)


def _n(x: int) -> str:
    return f"{x:,}".replace(",", " ")
