"""Inside Airbnb: the listings of French cities, every snapshot of every city.

Live mode reads the links of the "get the data" page (`/france/<region>/<city>/<date>/...`) to
find the snapshots, then downloads the summary `visualisations/listings.csv` of each (the
detailed `data/listings.csv.gz` with the run option `-o insideairbnb.fichier=detaille`). Mirror
mode lists `insideairbnb/france/<region>/<city>/<YYYY-MM or YYYY-MM-DD>/visualisations/listings.csv`.

The parser accepts the 18-column summary, the 19-column one (`host_profile_id` after
`host_id`) and the detailed file (`neighbourhood_cleansed`, prices as "$1,234.00"). Listing
and host ids exceed 2^53: they are read as text and cast to Int64, never through a float.
Names are kept as they are (they are data: the dashboard escapes them). Host names are
personal data and are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import polars as pl

from etl import download
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError, require_columns

PAGE_URL = "https://insideairbnb.com/get-the-data/"
DATA_HOST = "https://data.insideairbnb.com"
MIRROR_DIR = "insideairbnb"
ATTRIBUTION = "Inside Airbnb, CC BY 4.0"

#: `/france/<region>/<city>/<date>/` in a link of the "get the data" page (or a mirror path).
SNAPSHOT_PATH = re.compile(r"/france/([a-z0-9-]+)/([a-z0-9-]+)/(\d{4}-\d{2}(?:-\d{2})?)/")

#: Which file of a snapshot to read: summary (default) or detailed (run option).
FILES = {"resume": "visualisations/listings.csv", "detaille": "data/listings.csv.gz"}
OPTION = "insideairbnb.fichier"

REQUIRED = ("id", "host_id", "latitude", "longitude", "room_type", "price", "minimum_nights",
            "calculated_host_listings_count", "availability_365", "neighbourhood")
#: Columns that older snapshots lack: kept as null (never 0) when absent.
OPTIONAL = ("name", "neighbourhood_group", "number_of_reviews", "last_review", "reviews_per_month",
            "number_of_reviews_ltm", "license")
#: Detailed-file names of the summary columns.
DETAILED_NAMES = {"neighbourhood_cleansed": "neighbourhood", "neighbourhood_group_cleansed": "neighbourhood_group"}
INT_COLUMNS = ("minimum_nights", "number_of_reviews", "calculated_host_listings_count", "availability_365",
               "number_of_reviews_ltm")

SCHEMA = {
    "region": pl.String, "ville": pl.String, "instantane": pl.String, "date_instantane": pl.String,
    "id": pl.Int64, "name": pl.String, "host_id": pl.Int64, "neighbourhood_group": pl.String,
    "neighbourhood": pl.String, "latitude": pl.Float64, "longitude": pl.Float64, "room_type": pl.String,
    "price": pl.Float64, "minimum_nights": pl.Int64, "number_of_reviews": pl.Int64, "last_review": pl.Date,
    "reviews_per_month": pl.Float64, "calculated_host_listings_count": pl.Int64, "availability_365": pl.Int64,
    "number_of_reviews_ltm": pl.Int64, "license": pl.String,
}


@dataclass(frozen=True, order=True)
class Snapshot:
    """One city at one date, as Inside Airbnb publishes it."""

    region: str
    city: str
    date: str  # "YYYY-MM-DD" online; the mirror may only know "YYYY-MM"

    @property
    def key(self) -> str:
        return f"{self.region}/{self.city}/{self.date}"

    @property
    def month(self) -> str:
        return self.date[:7]

    def url(self, file: str = FILES["resume"]) -> str:
        return f"{DATA_HOST}/france/{self.region}/{self.city}/{self.date}/{file}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def discover(html: str, base_url: str = PAGE_URL) -> dict[Snapshot, str]:
    """The French snapshots linked from the "get the data" page: snapshot -> its folder URL.

    Every link of a snapshot (detailed data, summary, GeoJSON) names the same folder; the
    archived snapshots of a city are on the page too (hidden rows): all are kept.
    """
    parser = _Links()
    parser.feed(html)
    found: dict[Snapshot, str] = {}
    for href in parser.hrefs:
        url = urljoin(base_url, href.strip())
        match = SNAPSHOT_PATH.search(urlparse(url).path)
        if match:
            snap = Snapshot(*match.groups())
            found.setdefault(snap, url[: url.index(match.group(0)) + len(match.group(0))])
    return dict(sorted(found.items()))


def city_label(slug: str) -> str:
    """"pays-basque" -> "Pays Basque"."""
    return " ".join(w.capitalize() for w in slug.split("-"))


def parse_price(col: pl.Expr) -> pl.Expr:
    """Prices as "83", "83.0" or "$1,234.00" -> 83.0 / 1234.0 (null when empty or unreadable)."""
    cleaned = col.str.strip_chars().str.replace_all(r"[$€,\s\u202f\u00a0]", "")
    return pl.when(cleaned == "").then(None).otherwise(cleaned).cast(pl.Float64, strict=False)


def parse_id(col: pl.Expr) -> pl.Expr:
    """An id written as digits -> exact Int64 (ids exceed 2^53: never through a float)."""
    text = col.str.strip_chars()
    return pl.when(text.str.contains(r"^\d{1,19}$")).then(text).otherwise(None).cast(pl.Int64, strict=False)


def read_listings(
    path: Path, snap: Snapshot, source: str = "insideairbnb"
) -> tuple[pl.DataFrame, Counter, list[str], set[str]]:
    """One listings file (summary 18/19 columns, or detailed) -> typed frame, rejects, notes, columns."""
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{source}: {snap.key} : CSV illisible ({type(exc).__name__}: {exc})") from exc
    if "neighbourhood_cleansed" in raw.columns:  # detailed file: its "neighbourhood" is free text
        raw = raw.drop([v for v in DETAILED_NAMES.values() if v in raw.columns]).rename(
            {k: v for k, v in DETAILED_NAMES.items() if k in raw.columns})
    require_columns(raw, REQUIRED, source=source, what=f"listings.csv de {snap.key}")
    notes = []
    columns = set(raw.columns)
    absent = [c for c in OPTIONAL if c not in raw.columns]
    if absent:
        notes.append(f"{snap.key} : colonne(s) absente(s), laissée(s) vide(s) : {', '.join(absent)}")
        raw = raw.with_columns([pl.lit(None, pl.String).alias(c) for c in absent])

    df = raw.select(
        pl.lit(snap.region).alias("region"),
        pl.lit(snap.city).alias("ville"),
        pl.lit(snap.month).alias("instantane"),
        pl.lit(snap.date if len(snap.date) == 10 else None, pl.String).alias("date_instantane"),
        parse_id(pl.col("id")).alias("id"),
        pl.col("name"),
        parse_id(pl.col("host_id")).alias("host_id"),
        *[pl.col(c).str.strip_chars().replace("", None).alias(c) for c in ("neighbourhood_group", "neighbourhood")],
        *[pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in ("latitude", "longitude")],
        pl.col("room_type").str.strip_chars(),
        parse_price(pl.col("price")).alias("price"),
        *[pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).cast(pl.Int64, strict=False).alias(c)
          for c in INT_COLUMNS],
        pl.col("last_review").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("reviews_per_month").str.strip_chars().cast(pl.Float64, strict=False),
        pl.col("license").str.strip_chars().replace("", None).alias("license"),
        _raw_price=pl.col("price").str.strip_chars().replace("", None),
    )
    rejected: Counter = Counter()
    reasons = [
        (pl.col("id").is_null(), "identifiant d'annonce absent ou non numérique"),
        (pl.col("latitude").is_null() | pl.col("longitude").is_null()
         | ~pl.col("latitude").is_between(-90, 90) | ~pl.col("longitude").is_between(-180, 180),
         "coordonnées absentes ou invalides"),
    ]
    for cond, reason in reasons:
        bad = df.filter(cond)
        if bad.height:
            rejected[reason] += bad.height
            df = df.filter(~cond)
    dupes = df.filter(pl.col("id").is_duplicated()).height - df.filter(pl.col("id").is_duplicated())["id"].n_unique()
    if dupes:
        rejected["identifiant en double dans l'instantané"] += dupes
        df = df.unique("id", keep="first", maintain_order=True)
    unreadable = df.filter(pl.col("_raw_price").is_not_null() & pl.col("price").is_null()).height
    if unreadable:
        notes.append(f"{snap.key} : {unreadable} prix illisibles laissés vides")
    return df.drop("_raw_price").select(list(SCHEMA)).cast(SCHEMA), rejected, notes, columns


class InsideAirbnb(Source):
    name = "insideairbnb"
    title = "Inside Airbnb : annonces de location de courte durée des villes françaises"
    publisher = "Inside Airbnb"
    homepage = PAGE_URL
    licence = "CC BY 4.0"
    attribution = ATTRIBUTION
    vintage = "tous les instantanés publiés (miroir : décembre 2021 et mars 2024)"
    min_rows = 100
    rows_by = ("instantanes", ("ville", "instantane"), "lignes_lues")  # the drop check, per snapshot
    #: The page listing the snapshots (a test points it at a local server).
    page_url: str = PAGE_URL

    def _file(self, ctx: FetchContext) -> str:
        choice = str(ctx.options.get(OPTION, "resume"))
        if choice not in FILES:
            raise SourceError(f"{self.name}: option {OPTION}={choice} inconnue (valeurs : {', '.join(FILES)})")
        return FILES[choice]

    def snapshots(self, ctx: FetchContext) -> dict[Snapshot, str]:
        """Snapshots to read: mirror folders, or the links of the "get the data" page."""
        if ctx.mirror is not None:
            root = Path(ctx.mirror) / MIRROR_DIR
            found = {}
            for path in sorted(root.glob("france/*/*/*")):
                match = SNAPSHOT_PATH.search("/" + path.relative_to(root).as_posix() + "/")
                if path.is_dir() and match:
                    snap = Snapshot(*match.groups())
                    found[snap] = snap.url("")
            if not found:
                raise SourceError(f"{self.name}: aucun instantané dans {root} (france/<région>/<ville>/<date>/)")
            return found
        try:
            staged = download.stage(self.page_url, Path(ctx.raw_dir) / self.name / "get-the-data.html",
                                    label=f"{self.name}/page", session=ctx.session, progress=False,
                                    **ctx.download_kwargs)
        except download.DownloadError as exc:
            raise SourceError(str(exc)) from exc
        html = staged.path.read_text(encoding="utf-8", errors="replace")
        found = discover(html, self.page_url)
        if not found:
            staged.discard()
            raise SourceError(f"{self.name}: aucun lien /france/<région>/<ville>/<date>/ sur {self.page_url}")
        staged.commit()
        return found

    def resources(self, ctx: FetchContext) -> list[Resource]:
        file = self._file(ctx)
        return [
            Resource(snap.key, urljoin(folder, file), f"{MIRROR_DIR}/france/{snap.key}/{file}",
                     filename=f"{snap.region}_{snap.city}_{snap.date}_{Path(file).name}")
            for snap, folder in self.snapshots(ctx).items()
        ]

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        frames, rejected, notes, rows, info = [], Counter(), [], 0, []
        snaps = sorted(Snapshot(*k.split("/")) for k in files)
        # one snapshot a city and month: a later one of the same month replaces an earlier one
        latest: dict[tuple[str, str], Snapshot] = {}
        for snap in snaps:
            latest[(snap.city, snap.month)] = snap
        for snap in snaps:
            df, rej, nts, columns = read_listings(files[snap.key], snap, self.name)
            n_read = df.height + sum(rej.values())
            rows += n_read
            notes += nts
            if latest[(snap.city, snap.month)] != snap:
                rejected["instantané remplacé par un plus récent du même mois"] += n_read
                notes.append(f"{snap.key} : remplacé par {latest[(snap.city, snap.month)].key}")
                continue
            if df.height == 0:
                raise SourceError(f"{self.name}: {snap.key} : aucune annonce lisible")
            rejected.update({f"{reason}": n for reason, n in rej.items()})
            frames.append(df)
            info.append({
                "region": snap.region, "ville": snap.city, "nom_ville": city_label(snap.city),
                "instantane": snap.month, "date_instantane": snap.date if len(snap.date) == 10 else None,
                "dossier": snap.key, "lignes_lues": n_read, "annonces": df.height,
                # the scrape is at least as recent as its latest review (the mirror lacks some exact dates)
                "dernier_commentaire": str(df["last_review"].max()) if df["last_review"].is_not_null().any() else None,
                "colonnes": len(columns),
                "numero_fourni": "license" in columns,
                "nuitees_calculables": "number_of_reviews_ltm" in columns,
            })
        listings = pl.concat(frames).sort("ville", "instantane", "id")
        snapshots = pl.DataFrame(info, schema_overrides={"date_instantane": pl.String, "dernier_commentaire": pl.String})
        return Parsed({"main": listings, "instantanes": snapshots}, rows_read=rows, rejected=+rejected,
                      notes=notes)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "urls": [self.page_url]}


SOURCE = InsideAirbnb()
