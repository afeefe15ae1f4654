"""One ETL run: fetch the sources asked for, rebuild the marts that read them, write the manifest.

A source that fails (download, parse, validation, a drop against its previous version, or any
unexpected error of its module) is reported and the marts that read it are not rebuilt: their
previous files stay as they were. Everything else goes on.

A run holds the lock of its output folder (a second run into the same folder stops and says
who holds it) and starts by removing the temporary files that interrupted runs left there.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from etl import current, registry
from etl.indicators import catalogue_frame, conform
from etl.marts.base import BuildContext, Table, materialise
from etl.sources.base import AbsentFromMirror, FetchContext, Parsed, SourceError, fetch
from etl.store import clean_stale_temps, lock_folder, read_manifest, temp_file, update_manifest, write_parquet


@dataclass
class SourceReport:
    name: str
    status: str  # "ok", "inchangé", "réutilisé" (current files, not fetched), "absent" (live-only source, mirror run), "erreur"
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
    notes: list[str] = field(default_factory=list)  # about the run itself (plan, lock taken over, leftovers removed)

    @property
    def ok(self) -> bool:
        return all(s.status != "erreur" for s in self.sources) and all(m.status == "ok" for m in self.marts)

    def errors(self) -> list[str]:
        return [s.error for s in self.sources if s.error] + [m.error for m in self.marts if m.error]


@dataclass
class Plan:
    """What a run does: sources fetched, sources read from their current files, marts built."""

    fetch: list[str]
    reuse: list[str]
    order: list[str]
    #: marts absent from the folder that read a named source but cannot be built (why, in French)
    notes: list[str] = field(default_factory=list)

    @property
    def needed(self) -> list[str]:
        return sorted({*self.fetch, *self.reuse})


def plan(
    source_names: list[str] | None, out_dir: Path, options: dict[str, Any] | None = None,
    *, mirror: Path | None = None,
) -> Plan:
    """Which sources to fetch, which to read from their current files, which marts to build, in order.

    `--all` fetches every source and builds every mart. A run of named sources fetches those
    only; it rebuilds the marts that read them and, among the marts that read those, the ones
    this folder holds (a mart the folder lacks has nothing to refresh), plus any mart they need
    that the folder lacks. The other sources those marts read are not downloaded: their current
    files are reused (`etl.current`). When one is missing for a mart the folder holds, nothing is
    fetched: the run stops with a `SourceError` that names it.
    A mart's optional sources are read when named, or when selected by the run options
    (`Source.selected`, for example `--vtc-source`).
    """
    sources = registry.sources()
    marts = registry.marts()
    options = options or {}
    manifest = read_manifest(out_dir)
    built = set(manifest["marts"])
    if source_names:
        unknown = [s for s in source_names if s not in sources]
        if unknown:
            raise SourceError(f"source(s) inconnue(s) : {', '.join(unknown)} (voir `python -m etl list`)")
        wanted = {m.name for m in marts.values() if set(m.sources + m.optional_sources) & set(source_names)}
    else:
        wanted = set(marts)
    changed = True
    while changed:
        changed = False
        for name in marts:
            if name in wanted:
                # a mart needs the marts it requires: build those too when they are absent from `out_dir`
                add = [r for r in registry.requires_of(name) if r not in wanted and r not in built]
            else:
                # a mart built on a rebuilt mart is rebuilt too, when the folder holds it
                add = [name] if name in built and set(registry.requires_of(name)) & wanted else []
            if add:
                wanted.update(add)
                changed = True

    def inputs(mart: str) -> list[str]:
        return _inputs(marts[mart], source_names, options)

    fetch_now = set(source_names) if source_names else {s for m in wanted for s in inputs(m)}
    raw_dir = Path(out_dir) / "raw"
    missing: dict[str, str] = {}

    def unavailable(name: str) -> str | None:
        if name not in missing:
            missing[name] = current.missing_current(sources[name], mirror=mirror, raw_dir=raw_dir,
                                                    entry=manifest["sources"].get(name), options=options) or ""
        return missing[name] or None

    notes: list[str] = []
    stops: list[str] = []
    lacking_sources: set[str] = set()
    dropped: set[str] = set()
    for name in registry.build_order(wanted):
        if name not in wanted:
            continue
        lacking = [s for s in marts[name].sources if s not in fetch_now and unavailable(s)]
        lacking_marts = [r for r in registry.requires_of(name) if r in dropped]
        if not lacking and not lacking_marts:
            continue
        what = ", ".join([*lacking, *(f"mart {r}" for r in lacking_marts)])
        if name in built:
            stops.append(name)
            lacking_sources.update(lacking)
        else:
            dropped.add(name)
            notes.append(f"{name} : non construit (absent du dossier), il lui manque : {what}")
    if stops:
        raise SourceError(
            f"rien n'a été téléchargé : pour reconstruire {', '.join(stops)}, il faut aussi les fichiers actuels de "
            "ces sources :\n" + "".join(f"  {s} : {missing[s]}\n" for s in sorted(lacking_sources))
            + "Les récupérer aussi (python -m etl run SOURCE ...) ou tout reconstruire (python -m etl run --all, "
            "ou --mirror pour le miroir hors ligne)."
        )
    order = [m for m in registry.build_order(wanted) if m in wanted and m not in dropped]
    required = {s for m in order for s in marts[m].sources}
    used = {s for m in order for s in inputs(m)}
    # an optional source without current files is left out, as a live-only source in mirror mode
    reuse = sorted(s for s in used - fetch_now if s in required or not unavailable(s))
    return Plan(fetch=sorted(fetch_now), reuse=reuse, order=order, notes=notes)


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
    the_plan = plan(source_names, out_dir, options, mirror=Path(mirror) if mirror else None)
    needed, order = the_plan.needed, the_plan.order
    report.notes.extend(the_plan.notes)
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
    all_marts = registry.marts()
    parsed: dict[str, Parsed] = {}
    manifest_sources: dict[str, Any] = {}

    def reading_order() -> Iterable[str]:
        # The sources asked for come first: when one fails, the marts that read it cannot be rebuilt, so the
        # current files of their other inputs are not read for nothing (the contours alone take a minute).
        yield from the_plan.fetch
        reuse = _still_needed(the_plan, parsed, all_marts, options, source_names)
        skipped = [s for s in the_plan.reuse if s not in reuse]
        if skipped:
            report.notes.append(f"non relu (une source demandée a échoué, aucun mart à reconstruire ne le lit) : "
                                f"{', '.join(skipped)}")
        yield from reuse

    for name in tqdm(reading_order(), total=len(needed), desc="sources", unit="source",
                     disable=not progress or None):
        src = all_sources[name]
        t0 = time.perf_counter()
        try:
            if name in the_plan.fetch:
                result, info = fetch(src, fctx)
            else:  # another input of the rebuilt marts: its current files, not downloaded again
                result, info = current.read_current(src, fctx, previous.get(name))
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
            SourceReport(name, "réutilisé" if name not in the_plan.fetch else "inchangé" if info.unchanged else "ok",
                         result.rows_read, result.rejected, info.seconds,
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
            tables = dict(result.tables)
            indicateurs = result.indicateurs
            if indicateurs is not None:
                tables[f"indicateurs/{name}.parquet"] = lambda ind=indicateurs: conform(materialise(ind))
            result.tables, result.indicateurs = {}, None  # held by `tables` alone: each let go once written
            files = write_tables(tables, out_dir)
            rows = sum(f["lignes"] for f in files.values())
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


def write_tables(tables: dict[str, Table], out_dir: Path) -> dict[str, Any]:
    """Write a mart's tables under `out_dir`, all or none; return each file's rows and sha256.

    Each table is computed (when given as a function or a lazy frame), written to a temporary
    file beside its place and let go before the next, so memory holds one table at a time. Only
    once every table is written are the temporaries renamed over the previous files: a table that
    fails leaves the folder as it was (the temporaries are removed).
    """
    staged: dict[str, Path] = {}
    files: dict[str, Any] = {}
    try:
        for rel in list(tables):
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = temp_file(dest, ".staged")
            os.close(fd)
            staged[rel] = tmp
            df = materialise(tables.pop(rel))
            files[rel] = {"lignes": df.height, "sha256": write_parquet(df, tmp)}
            del df
        for rel, tmp in staged.items():
            os.replace(tmp, out_dir / rel)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    return files


def _still_needed(the_plan: Plan, parsed: dict[str, Parsed], marts: dict[str, Any], options: dict[str, Any],
                  source_names: list[str] | None) -> list[str]:
    """The reused sources that a mart still buildable after the fetched sources' outcome reads."""
    dead: set[str] = set()
    for name in the_plan.order:
        m = marts[name]
        if any(s in the_plan.fetch and s not in parsed for s in m.sources) or set(registry.requires_of(name)) & dead:
            dead.add(name)
    used = {s for name in the_plan.order if name not in dead for s in _inputs(marts[name], source_names, options)}
    return [s for s in the_plan.reuse if s in used]


def _inputs(mart: Any, source_names: list[str] | None, options: dict[str, Any]) -> list[str]:
    """The sources a mart reads in this run: its own, and the optional ones named or selected by the options."""
    sources = registry.sources()
    return [*mart.sources, *(s for s in mart.optional_sources
                             if s in (source_names or []) or sources[s].selected(options))]


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
    lines.extend(f"note : {note}" for note in report.notes)
    lines.append("")
    lines.append(f"Durée totale : {report.seconds:.1f} s — {'succès' if report.ok else 'avec erreurs'}")
    return "\n".join(lines)


def _n(x: int) -> str:
    return f"{x:,}".replace(",", " ")
