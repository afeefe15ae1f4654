"""Inside Airbnb: the listings of French cities, every snapshot of every city.

Live mode finds the snapshots in the site's archived list, then downloads the summary
`visualisations/listings.csv` of each (the detailed `data/listings.csv.gz` with the run option
`-o insideairbnb.fichier=detaille`). The "get the data" page is a Gatsby site: its HTML links
only the latest snapshot of each city, the archived ones sit behind a "show archived data"
toggle whose list is the site's static data, `/page-data/get-the-data/page-data.json` naming
static queries `/page-data/sq/d/<hash>.json`, one of which holds `data.allData.datasets`: one
entry per (city, snapshot) with `dataRoot` (`https://data.insideairbnb.com/<country>/<region>/
<city>/`) and `publishDate` (`YYYY-MM-DD`). Sample and where the shape was confirmed:
`tests/samples/live/`. When that list cannot be read (unreachable, or a field gone: the error
names it), discovery falls back to the HTML links (latest snapshots only) and says so in the
run report and the manifest (`decouverte`). Mirror mode lists
`insideairbnb/france/<region>/<city>/<YYYY-MM or YYYY-MM-DD>/visualisations/listings.csv`.

The parser accepts the 18-column summary, the 19-column one (`host_profile_id` after
`host_id`) and the detailed file (`neighbourhood_cleansed`, prices as "$1,234.00"). Listing
and host ids exceed 2^53: they are read as text and cast to Int64, never through a float.
Names are kept as they are (they are data: the dashboard escapes them). Host names are
personal data and are dropped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import polars as pl

from etl import download
from etl.formats import CsvFormat
from etl.sources.base import FetchContext, OptionError, Parsed, Resource, Source, SourceError, require_columns

PAGE_URL = "https://insideairbnb.com/get-the-data/"
#: The site's static data behind the page (relative to the site's root).
PAGE_DATA_PATH = "/page-data/get-the-data/page-data.json"
STATIC_QUERY_PATH = "/page-data/sq/d/{hash}.json"
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
#: Columns of the summary file that the parser does not keep (host names are personal data).
OTHER_SUMMARY = ("host_name", "host_profile_id")
#: The format of each file: the summary, or the detailed file (its names of the summary columns).
FORMATS = {
    "resume": CsvFormat(REQUIRED, known=OPTIONAL + OTHER_SUMMARY),
    "detaille": CsvFormat(tuple({v: k for k, v in DETAILED_NAMES.items()}.get(c, c) for c in REQUIRED)),
}
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


def site_url(page_url: str, path: str) -> str:
    """An address on the site of `page_url` (the static data live at the site's root)."""
    parts = urlparse(page_url)
    return f"{parts.scheme}://{parts.netloc}{path}"


def static_query_hashes(page_data: Any) -> list[str]:
    """The static queries of the page (`staticQueryHashes`); fails naming the field when it is gone."""
    hashes = page_data.get("staticQueryHashes") if isinstance(page_data, dict) else None
    if not isinstance(hashes, list) or not hashes:
        raise SourceError("insideairbnb: page-data.json sans liste « staticQueryHashes »")
    return [str(h) for h in hashes]


def archived_datasets(static_query: Any) -> list[dict] | None:
    """`data.allData.datasets` of one static query, or None when the query holds something else."""
    data = static_query.get("data") if isinstance(static_query, dict) else None
    all_data = data.get("allData") if isinstance(data, dict) else None
    datasets = all_data.get("datasets") if isinstance(all_data, dict) else None
    return datasets if isinstance(datasets, list) else None


def discover_archive(datasets: list[dict]) -> tuple[dict[Snapshot, str], int]:
    """The French snapshots of the archived list: snapshot -> its folder URL; and how many were skipped.

    Every entry must carry `dataRoot` and `publishDate`: a list without them has changed shape
    and is refused, naming the field. Entries whose visualisation files are not published
    (`visualisationPublishStatus` false) have no summary file: skipped and counted.
    """
    for name in ("dataRoot", "publishDate"):
        absent = sum(1 for d in datasets if not isinstance(d, dict) or not d.get(name))
        if absent:
            raise SourceError(f"insideairbnb: liste archivée : champ « {name} » absent de {absent} jeu(x) de données")
    found: dict[Snapshot, str] = {}
    skipped = 0
    for d in datasets:
        root = str(d["dataRoot"]).strip()
        folder = urljoin(root if root.endswith("/") else root + "/", str(d["publishDate"]).strip() + "/")
        match = SNAPSHOT_PATH.search(urlparse(folder).path)
        if not match:  # another country
            continue
        if d.get("visualisationPublishStatus") is False:
            skipped += 1
            continue
        found.setdefault(Snapshot(*match.groups()), folder)
    return dict(sorted(found.items())), skipped


def _short(exc: Exception) -> str:
    return str(exc).removeprefix("insideairbnb: ")


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
    #: The page listing the snapshots; its site also serves the archived list (a test points it at a local server).
    page_url: str = PAGE_URL
    provenance = ("Site de l'éditeur : la liste de tous les instantanés (y compris archivés) est lue dans les données "
                  "du site (page-data), à défaut dans les liens de la page « Get the data » (derniers instantanés "
                  "seulement) ; les fichiers viennent de data.insideairbnb.com.")
    formats = FORMATS

    def format_of(self, key: str, options: dict[str, Any]) -> Any:
        choice = str(options.get(OPTION, "resume"))
        return FORMATS.get(choice)

    def _file(self, ctx: FetchContext) -> str:
        choice = str(ctx.options.get(OPTION, "resume"))
        if choice not in FILES:
            raise OptionError(f"{self.name}: option {OPTION}={choice} inconnue (valeurs : {', '.join(FILES)})")
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
        page_data_url = site_url(self.page_url, PAGE_DATA_PATH)
        try:
            found, skipped = self._archive(ctx)
            summary = f"instantanés trouvés dans la liste archivée du site (page-data) : {len(found)}"
            if skipped:
                summary += f" ; {skipped} sans fichiers de visualisation publiés, ignorés"
            record = {"methode": "page-data", "adresse": page_data_url}
        except SourceError as exc:
            try:
                found = self._html_links(ctx)
            except SourceError as html_exc:
                raise SourceError(f"{self.name}: liste archivée : {_short(exc)} ; page HTML : {_short(html_exc)}"
                                  ) from (html_exc.__cause__ or html_exc)
            summary = (f"liste archivée illisible ({exc}) : instantanés pris dans les liens de la page HTML "
                       f"(derniers instantanés seulement) : {len(found)}")
            cause = "injoignable" if isinstance(exc.__cause__, download.DownloadError) else "format changé"
            record = {"methode": "page HTML", "adresse": self.page_url, "repli_car": str(exc), "repli_cause": cause}
        ctx.discovery[self.name] = {**record, "instantanes": len(found), "resume": summary,
                                    "le": datetime.now(UTC).isoformat(timespec="seconds")}
        return found

    def _get_json(self, url: str, name: str, ctx: FetchContext) -> tuple[Any, download.Staged]:
        try:
            staged = download.stage(url, Path(ctx.raw_dir) / self.name / name, label=f"{self.name}/{name}",
                                    session=ctx.session, progress=False, **ctx.download_kwargs)
        except download.DownloadError as exc:
            raise SourceError(str(exc)) from exc
        try:
            return json.loads(staged.path.read_text(encoding="utf-8")), staged
        except (UnicodeDecodeError, ValueError) as exc:
            staged.discard()
            raise SourceError(f"{self.name}: {url} : JSON illisible ({exc})") from exc

    def _archive(self, ctx: FetchContext) -> tuple[dict[Snapshot, str], int]:
        """The archived list: page-data.json -> its static queries -> the one holding `allData.datasets`."""
        page, page_staged = self._get_json(site_url(self.page_url, PAGE_DATA_PATH), "page-data.json", ctx)
        try:
            hashes = static_query_hashes(page)
        except SourceError:
            page_staged.discard()
            raise
        for h in hashes:
            query, staged = self._get_json(site_url(self.page_url, STATIC_QUERY_PATH.format(hash=h)),
                                           f"sq-{h}.json", ctx)
            datasets = archived_datasets(query)
            if datasets is None:
                staged.discard()
                continue
            try:
                found, skipped = discover_archive(datasets)
                if not found:
                    raise SourceError(f"{self.name}: liste archivée sans instantané français (/france/<région>/<ville>/)")
            except SourceError:
                staged.discard()
                page_staged.discard()
                raise
            page_staged.commit()
            staged.commit()
            return found, skipped
        page_staged.discard()
        raise SourceError(f"{self.name}: aucune requête statique du site ne contient « data.allData.datasets »")

    def _html_links(self, ctx: FetchContext) -> dict[Snapshot, str]:
        """The links of the "get the data" page (the latest snapshot of each city)."""
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
        if self.name in ctx.discovery:  # how the snapshots were found, in the manifest's notes too
            notes.append(ctx.discovery[self.name]["resume"])
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
        return {**super().describe(), "urls": [site_url(self.page_url, PAGE_DATA_PATH), self.page_url]}


SOURCE = InsideAirbnb()
