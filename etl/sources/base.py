"""What every source module declares, and how a source is fetched and parsed.

A source module in `etl/sources/` defines one subclass of `Source` and exposes an instance as
`SOURCE`; the registry finds it by itself (no central list to edit). A source says where its
files live (live URL and path in the offline mirror), under which licence, which vintage it
yields, and how to parse its files into typed polars tables, counting what it rejects.

The same `parse` reads the live download and the mirror copy. In live mode the files are
downloaded to temporary names, parsed (that is the validation: parseable, expected columns,
plausible row count, no drop against the previous good version) and only then put in place; a
failure leaves the previous copy untouched.

The drop check: a file cut short without the server saying so (no `Content-Length`) parses
fine and only has fewer rows. So each fetch is compared with the counts the manifest recorded
for the previous good version of the source (`Source.measures`: rows read, and national
totals a source declares); a fall beyond `Source.max_drop` is refused unless the run accepts it
(`--accepter-baisse SOURCE`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import requests

from etl import download
from etl.config import mirror_dir
from etl.store import sha256_file


class SourceError(RuntimeError):
    """A source that could not be read; the message names the source and the problem."""


class OptionError(SourceError):
    """A run option the source cannot take (an unknown département, a month not published...)."""


class AbsentFromMirror(SourceError):
    """A live-only source (`mirror_optional`) that the offline mirror has no copy of."""


class DropRefused(SourceError):
    """A fetch whose counts fall too far below the previous good version's (see `Source.max_drop`)."""


@dataclass(frozen=True)
class Resource:
    """One file of a source: where it lives online and in the mirror."""

    key: str
    url: str
    mirror: str
    filename: str | None = None
    #: Other addresses of the same file (another host of the publisher), tried in order when
    #: `url` cannot be downloaded; the manifest records the one that answered.
    fallbacks: tuple[str, ...] = ()

    @property
    def local_name(self) -> str:
        return self.filename or Path(self.mirror).name


@dataclass
class Parsed:
    """The typed tables read from a source, with what was read and what was rejected."""

    tables: dict[str, pl.DataFrame]
    rows_read: int
    rejected: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    #: Set when this fetch differs from the source's declared nature or vintage (for example
    #: a source that simulates its files in mirror mode): the manifest records these instead.
    nature: str | None = None
    vintage: str | None = None

    @property
    def frame(self) -> pl.DataFrame:
        return self.tables["main"]


@dataclass
class FetchContext:
    """How to reach the files: the mirror folder (offline) or the live URLs."""

    mirror: Path | None
    raw_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    session: requests.Session | None = None
    progress: bool = True
    download_kwargs: dict[str, Any] = field(default_factory=dict)
    #: The manifest's entries of the sources (their previous good version), for the drop check.
    previous: dict[str, Any] = field(default_factory=dict)
    #: Sources whose drop the user accepts (`--accepter-baisse`).
    accept_drop: frozenset[str] = frozenset()
    #: What sources that discover their files online found, by source name (method, address,
    #: files): recorded in the manifest so that `python -m etl list` shows it.
    discovery: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return "miroir" if self.mirror is not None else "live"


@dataclass
class FetchInfo:
    """What the manifest records about one fetch of a source."""

    source: str
    origin: str
    files: dict[str, dict[str, Any]]
    retrieved_at: str
    seconds: float
    unchanged: bool
    discovery: dict[str, Any] | None = None
    #: What the drop check compared: this fetch's counts, the previous version's, the drops found.
    measures: dict[str, float] = field(default_factory=dict)
    previous_measures: dict[str, float] | None = None
    drops: list[Drop] = field(default_factory=list)
    drop_accepted: bool = False


@dataclass(frozen=True)
class Drop:
    """A count that fell beyond the source's threshold."""

    measure: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after / self.before - 1

    def describe(self) -> str:
        return f"{self.measure.replace('_', ' ')} {_n(self.before)} → {_n(self.after)} ({_pct(self.change)})"


def _n(x: float) -> str:
    text = f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
    return text.replace(",", " ").replace(".", ",")


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %".replace(".", ",").replace("-", "−")


class Source:
    """Base class of a source module. Subclasses set the class attributes and `parse`."""

    name: ClassVar[str]
    title: ClassVar[str]
    publisher: ClassVar[str]
    homepage: ClassVar[str]
    licence: ClassVar[str]
    attribution: ClassVar[str]
    vintage: ClassVar[str]
    nature: ClassVar[str] = "reel"
    #: A parsed main table with fewer rows than this is implausible: the file is refused.
    min_rows: ClassVar[int] = 1
    resources_: ClassVar[tuple[Resource, ...]] = ()
    #: The offline mirror may have no copy (a live-only source): in mirror mode the source is
    #: then reported absent, not failed, and the marts that use it optionally go on without it.
    mirror_optional: ClassVar[bool] = False
    #: A frozen extract that has no live file in this format: read from the mirror in both modes.
    archive: ClassVar[bool] = False
    #: Largest fall accepted against the previous good version, for each measure (0.10: 10 %).
    max_drop: ClassVar[float] = 0.10
    #: National totals compared with the previous version: measure name -> (table, column) summed.
    national_totals: ClassVar[dict[str, tuple[str, str]]] = {}
    #: For sources whose selection moves from run to run (the last 12 months, the current
    #: snapshots): rows are counted per key, (table, key columns, rows column), and only keys
    #: present in both versions are compared.
    rows_by: ClassVar[tuple[str, tuple[str, ...], str] | None] = None
    #: A run option that chooses what is fetched: counts are compared only under the same choice.
    scope_option: ClassVar[str | None] = None
    #: Which address is used and why (publisher's own file or a public copy): shown in the dictionary.
    provenance: ClassVar[str] = ""
    #: The format of its files (`etl.formats`), one for all or one per resource key: the parser
    #: requires these columns or fields, and `python -m etl check-live` checks them online.
    formats: ClassVar[Any] = None

    def format_of(self, key: str, options: dict[str, Any]) -> Any:
        """The format the file `key` must have (shared by the parser and `check-live`); None: not checked."""
        return self.formats.get(key) if isinstance(self.formats, dict) else self.formats

    def selected(self, options: dict[str, Any]) -> bool:
        """Whether a run fetches this optional source (run options can choose between alternatives)."""
        return True

    def resources(self, ctx: FetchContext) -> list[Resource]:
        """The files to fetch. Sources whose file list is discovered online override this."""
        return list(self.resources_)

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raise NotImplementedError

    def measures(self, parsed: Parsed, ctx: FetchContext) -> dict[str, float]:
        """The counts the drop check compares with the previous version (recorded in the manifest)."""
        scope = ctx.options.get(self.scope_option) if self.scope_option else None
        suffix = f" [{scope}]" if scope else ""
        out: dict[str, float] = {}
        if self.rows_by is None:
            out["lignes_lues" + suffix] = parsed.rows_read
        else:
            table, keys, column = self.rows_by
            grouped = parsed.tables[table].group_by(list(keys)).agg(pl.col(column).sum()).sort(list(keys))
            for *key, rows in grouped.iter_rows():
                out[f"lignes_lues [{' '.join(str(k) for k in key)}]"] = rows
        for name, (table, column) in self.national_totals.items():
            total = parsed.tables[table][column].sum()
            out[name + suffix] = int(total) if float(total).is_integer() else float(total)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "nom": self.name,
            "titre": self.title,
            "producteur": self.publisher,
            "page": self.homepage,
            "urls": [r.url for r in self.resources_],
            "licence": self.licence,
            "attribution": self.attribution,
            "millesime": self.vintage,
            "nature": self.nature,
            **({"provenance": self.provenance} if self.provenance else {}),
        }


def fetch(source: Source, ctx: FetchContext) -> tuple[Parsed, FetchInfo]:
    """Fetch and parse `source`; in live mode, replace the raw copies only if parsing succeeded."""
    start = time.perf_counter()
    if ctx.mirror is None and source.archive:  # no live file in this format: the mirror is the source
        ctx = replace(ctx, mirror=mirror_dir())
    try:  # discovery may read a page or an API: any failure there is this source's error
        resources = source.resources(ctx)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"{source.name}: liste des fichiers introuvable ({type(exc).__name__}: {exc})") from exc
    staged: dict[str, download.Staged] = {}
    if ctx.mirror is not None:
        files = {r.key: Path(ctx.mirror) / r.mirror for r in resources}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing and source.mirror_optional:
            raise AbsentFromMirror(f"{source.name}: pas de copie dans le miroir (source en ligne seulement)")
        if missing:
            raise SourceError(f"{source.name}: fichier absent du miroir : {', '.join(missing)}")
    else:
        try:
            for r in resources:
                staged[r.key] = _stage(source, r, ctx)
        except download.DownloadError as exc:
            for s in staged.values():
                s.discard()
            raise SourceError(str(exc)) from exc
        files = {k: s.path for k, s in staged.items()}

    try:
        parsed = source.parse(files, ctx)
        main = parsed.tables.get("main")
        if main is not None and main.height < source.min_rows:
            raise SourceError(
                f"{source.name}: {main.height} lignes lues, moins que le minimum plausible ({source.min_rows})"
            )
        measures = source.measures(parsed, ctx)
        before = previous_measures(ctx.previous.get(source.name))
        drops = find_drops(before or {}, measures, source.max_drop)
        accepted = bool(drops) and source.name in ctx.accept_drop
        if drops and not accepted:
            entry = ctx.previous.get(source.name) or {}
            when = ", ".join(str(x) for x in (entry.get("recupere_le"), entry.get("origine")) if x)
            raise DropRefused(
                f"{source.name}: baisse refusée par rapport à la version précédente"
                f"{f' ({when})' if when else ''} : {' ; '.join(d.describe() for d in drops)} ; seuil : "
                f"{_pct(-source.max_drop).lstrip('−')} de baisse. Les données précédentes restent en place ; "
                f"si la baisse est réelle, relancer avec --accepter-baisse {source.name}"
            )
    except Exception as exc:
        for s in staged.values():
            s.discard()
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{source.name}: fichier illisible ({type(exc).__name__}: {exc})") from exc

    for s in staged.values():
        s.commit()
    info = FetchInfo(
        source=source.name,
        origin=ctx.origin,
        files={
            r.key: {
                "url": staged[r.key].url if r.key in staged else r.url,
                "fichier": r.mirror if ctx.mirror is not None else str(Path(source.name) / r.local_name),
                "sha256": sha256_file(files[r.key]) if ctx.mirror is not None else sha256_file(staged[r.key].dest),
                **(
                    {"etag": staged[r.key].etag, "last_modified": staged[r.key].last_modified,
                     "inchange": not staged[r.key].changed}
                    if r.key in staged else {}
                ),
            }
            for r in resources
        },
        retrieved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - start,
        unchanged=bool(staged) and all(not s.changed for s in staged.values()),
        measures=measures,
        previous_measures=before,
        drops=drops,
        drop_accepted=accepted,
        discovery=ctx.discovery.get(source.name),
    )
    return parsed, info


def _stage(source: Source, r: Resource, ctx: FetchContext) -> download.Staged:
    """Download `r` from its address, or from its fallbacks in order when it cannot be downloaded."""
    dest = Path(ctx.raw_dir) / source.name / r.local_name
    problems = []
    for url in (r.url, *r.fallbacks):
        try:
            return download.stage(url, dest, label=f"{source.name}/{r.key}", session=ctx.session,
                                  progress=ctx.progress, **ctx.download_kwargs)
        except download.DownloadError as exc:
            problems.append(str(exc))
    raise download.DownloadError(" ; puis ".join(problems))


def previous_measures(entry: dict[str, Any] | None) -> dict[str, float] | None:
    """The counts recorded for a source's previous good version (older manifests: its rows read)."""
    if not entry:
        return None
    if isinstance(entry.get("mesures"), dict):
        return entry["mesures"]
    if isinstance(entry.get("lignes_lues"), int | float):
        return {"lignes_lues": entry["lignes_lues"]}
    return None


def find_drops(before: dict[str, float], after: dict[str, float], threshold: float) -> list[Drop]:
    """The measures of `after` that fell more than `threshold` below `before` (measures in both only)."""
    drops = []
    for name, new in after.items():
        old = before.get(name)
        if isinstance(old, int | float) and isinstance(new, int | float) and old > 0 and new < old * (1 - threshold):
            drops.append(Drop(name, old, new))
    return drops


def require_columns(df: pl.DataFrame | Iterable[str], expected: Iterable[str], *, source: str, what: str) -> None:
    """Refuse a file that lacks an expected column, naming the source, the file and the column."""
    present = set(df.columns if isinstance(df, pl.DataFrame) else df)
    missing = [c for c in expected if c not in present]
    if missing:
        raise SourceError(f"{source}: colonne(s) manquante(s) dans {what} : {', '.join(missing)}")
