"""What every source module declares, and how a source is fetched and parsed.

A source module in `etl/sources/` defines one subclass of `Source` and exposes an instance as
`SOURCE`; the registry finds it by itself (no central list to edit). A source says where its
files live (live URL and path in the offline mirror), under which licence, which vintage it
yields, and how to parse its files into typed polars tables, counting what it rejects.

The same `parse` reads the live download and the mirror copy. In live mode the files are
downloaded to temporary names, parsed (that is the validation: parseable, expected columns,
plausible row count) and only then put in place; a failure leaves the previous copy untouched.
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
    resources = source.resources(ctx)
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


def require_columns(df: pl.DataFrame | Iterable[str], expected: Iterable[str], *, source: str, what: str) -> None:
    """Refuse a file that lacks an expected column, naming the source, the file and the column."""
    present = set(df.columns if isinstance(df, pl.DataFrame) else df)
    missing = [c for c in expected if c not in present]
    if missing:
        raise SourceError(f"{source}: colonne(s) manquante(s) dans {what} : {', '.join(missing)}")
