"""Registre de preuve de covoiturage (RPC): monthly files of everyday carpool trips.

Live mode: the monthly files are discovered through the data.gouv.fr API (resources titled
`YYYY-MM.csv`, the legacy 2019-2020 files skipped), and the months asked for are downloaded
(`python -m etl run rpc --months 2024-01..2024-12`; default: the last 12 published).

Mirror mode: no monthly file is mirrored (each is 500-600k rows), so the simulator
(`etl/simulate_rpc.py`) writes the months asked for (default: the 12 months of 2024) in the
exact RPC format into `<out>/raw/rpc-simule/`, and they go through this same parser and the
same aggregation. Everything that comes out of them is labelled `nature = simule`.

The parser reads one file at a time, streaming (memory does not grow with the number of
months): `.csv`, `.csv.gz` or a `.zip` holding one CSV; numbers quoted (files up to 2025) or
not (from 2026); the 27 columns in order; foreign points coded `99xxx` (from February 2025) or
`XXXXX` (before). Each file becomes a typed Parquet file next to it, with a `motif_rejet`
column: every malformed row is kept there with its reason and counted, never silently dropped.
The aggregation per territory and month lives in `etl/covoiturage.py`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from etl import download
from etl.formats import CsvFormat
from etl.sources.base import FetchContext, OptionError, Parsed, Resource, Source, SourceError
from etl.store import temp_file

DATASET = "trajets-realises-en-covoiturage-registre-de-preuve-de-covoiturage"
API_URL = f"https://www.data.gouv.fr/api/1/datasets/{DATASET}/"
HOMEPAGE = f"https://www.data.gouv.fr/fr/datasets/{DATASET}/"
FORMAT_SAMPLE = "rpc/rpc-format-sample-2025-02.csv"

#: The 27 columns of a monthly file, in order.
COLUMNS = (
    "journey_id", "trip_id", "journey_start_datetime", "journey_start_date", "journey_start_time",
    "journey_start_lon", "journey_start_lat", "journey_start_insee", "journey_start_department",
    "journey_start_town", "journey_start_towngroup", "journey_start_country",
    "journey_end_datetime", "journey_end_date", "journey_end_time", "journey_end_lon", "journey_end_lat",
    "journey_end_insee", "journey_end_department", "journey_end_town", "journey_end_towngroup",
    "journey_end_country", "passenger_seats", "operator_class", "journey_distance", "journey_duration",
    "has_incentive",
)
SEPARATOR = ";"
#: The parser needs exactly these 27 columns, in order (fields are read by position).
FORMAT = CsvFormat(COLUMNS, separator=SEPARATOR, exact=True)
COMMUNE_RE = r"^(\d{5}|2[AB]\d{3})$"
FOREIGN_RE = r"^(99\d{3}|XXXXX)$"
TITLE_RE = re.compile(r"^(\d{4})-(\d{2})\.csv(\.gz|\.zip)?$")
#: Files of 2019-2020 ("...vf") have other columns and swapped coordinates: skipped.
FIRST_YEAR = 2021

#: Reasons a row is rejected, in the order they are checked (a row gets the first that applies).
REASONS = {
    "champs": "nombre de champs différent de 27",
    "identifiant": "identifiant de trajet ou de véhicule absent",
    "date": "date ou heure de départ illisible",
    "commune": "code commune de départ ou d'arrivée mal formé",
    "passagers": "nombre de passagers invalide",
    "distance": "distance invalide",
    "duree": "durée invalide",
    "incitation": "indicateur d'incitation ni OUI ni NON",
    "classe": "classe d'opérateur inconnue",
    "doublon": "identifiant de trajet en double",
}

#: Typed columns written for each file (what the aggregation reads).
TYPED_SCHEMA = {
    "numero_ligne": pl.UInt32,  # line number in the file (the header is line 1)
    "journey_id": pl.String,
    "trip_id": pl.String,
    "mois": pl.String,
    "heure": pl.Int8,
    "insee_depart": pl.String,
    "insee_arrivee": pl.String,
    "pays_depart": pl.String,
    "pays_arrivee": pl.String,
    "lon_depart": pl.Float32,
    "lat_depart": pl.Float32,
    "lon_arrivee": pl.Float32,
    "lat_arrivee": pl.Float32,
    "passagers": pl.Int8,
    "classe_operateur": pl.String,
    "distance_m": pl.Int32,
    "duree_min": pl.Int32,
    "incitation": pl.Boolean,
    "motif_rejet": pl.String,
    "ligne_brute": pl.String,  # the raw line, for rows rejected for their number of fields
}


# -- months -------------------------------------------------------------------------------------
def parse_months(text: str | None) -> list[str] | None:
    """"2024-01..2024-12", "2024-03" or "2024-01,2024-02" -> sorted list of "YYYY-MM"; None -> None."""
    if text is None or not str(text).strip():
        return None
    months: set[str] = set()
    for part in str(text).split(","):
        part = part.strip()
        if ".." in part:
            start, end = (p.strip() for p in part.split("..", 1))
            _check_month(start)
            _check_month(end)
            if end < start:
                raise OptionError(f"rpc: intervalle de mois inversé : {part}")
            y, m = int(start[:4]), int(start[5:])
            while f"{y:04d}-{m:02d}" <= end:
                months.add(f"{y:04d}-{m:02d}")
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        else:
            _check_month(part)
            months.add(part)
    return sorted(months)


def _check_month(text: str) -> None:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise OptionError(f"rpc: mois mal formé « {text} » (attendu AAAA-MM, par exemple 2024-01..2024-12)")


# -- discovery (live) ---------------------------------------------------------------------------
def monthly_resources(api_json: dict) -> dict[str, str]:
    """Month -> URL of the monthly files listed by the data.gouv.fr API (legacy files skipped)."""
    found: dict[str, str] = {}
    for res in api_json.get("resources", []):
        title = str(res.get("title") or "").strip()
        match = TITLE_RE.match(title)
        if not match or int(match.group(1)) < FIRST_YEAR or not res.get("url"):
            continue
        found.setdefault(f"{match.group(1)}-{match.group(2)}", res["url"])
    return dict(sorted(found.items()))


def choose_months(available: dict[str, str], wanted: list[str] | None, last: int = 12) -> dict[str, str]:
    """The months asked for (all must be published), or the last `last` published."""
    if wanted is None:
        return dict(list(available.items())[-last:])
    missing = [m for m in wanted if m not in available]
    if missing:
        raise OptionError(f"rpc: mois non publiés sur data.gouv.fr : {', '.join(missing)}")
    return {m: available[m] for m in wanted}


# -- parsing ------------------------------------------------------------------------------------
@dataclass
class FileParse:
    """What one monthly file gave: its typed Parquet, rows read, rejected rows per reason."""

    path: Path
    typed: Path
    rows: int
    rejected: Counter
    months: list[str]


def read_header(path: Path) -> list[str]:
    with open_text(path) as fh:
        first = fh.readline()
    return [f.strip().strip('"').lstrip("\ufeff").strip('"') for f in first.rstrip("\r\n").split(SEPARATOR)]


def open_text(path: Path):
    """A text stream over a .csv, .csv.gz or single-CSV .zip file."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    if magic == b"PK\x03\x04":
        zf = zipfile.ZipFile(path)
        members = [m for m in zf.infolist() if m.filename.lower().endswith(".csv")]
        if not members:
            raise SourceError(f"rpc: aucun fichier CSV dans l'archive {path.name}")
        return io.TextIOWrapper(zf.open(max(members, key=lambda m: m.file_size)), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _plain_csv(path: Path, tmp_dir: Path) -> tuple[Path, bool]:
    """A path polars can scan: gzip is read natively, a zip member is extracted to a temporary file."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        return path, False
    fd, name = temp_file(Path(tmp_dir) / path.name, ".csv")  # named as ours: cleaned if a run is killed
    with open_text(path) as src, open(fd, "w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return name, True


#: The fields the typed file keeps (the others are checked for their count only).
USED = ("journey_id", "trip_id", "journey_start_datetime", "journey_start_date", "journey_start_time",
        "journey_start_lon", "journey_start_lat", "journey_start_insee", "journey_start_country", "journey_end_lon",
        "journey_end_lat", "journey_end_insee", "journey_end_country", "passenger_seats", "operator_class",
        "journey_distance", "journey_duration", "has_incentive")


def _field(name: str) -> pl.Expr:
    """A field of the split line without its quotes (both quoting styles; `""` inside is `"`), "" -> null."""
    raw = pl.col("_f").list.get(COLUMNS.index(name), null_on_oob=True)
    value = raw.str.strip_prefix('"').str.strip_suffix('"').str.replace_all('""', '"', literal=True).str.strip_chars()
    return pl.when(value != "").then(value).alias(name)


def _typed(lf: pl.LazyFrame) -> pl.LazyFrame:
    """From the text fields (plus `_champs_ok`, `ligne_brute`) to the typed columns and a rejection reason."""
    c = pl.col
    date = pl.coalesce(c("journey_start_date"), c("journey_start_datetime").str.slice(0, 10))
    time = pl.coalesce(c("journey_start_time"), c("journey_start_datetime").str.slice(11, 8))
    seats = c("passenger_seats").cast(pl.Int32, strict=False)
    dist = c("journey_distance").cast(pl.Float64, strict=False)
    dur = c("journey_duration").cast(pl.Float64, strict=False)
    place_ok = (c("journey_start_insee").str.contains(COMMUNE_RE) | c("journey_start_insee").str.contains(FOREIGN_RE)) & (
        c("journey_end_insee").str.contains(COMMUNE_RE) | c("journey_end_insee").str.contains(FOREIGN_RE))
    checks = [
        ("champs", c("_champs_ok")),
        ("identifiant", c("journey_id").is_not_null() & c("trip_id").is_not_null()),
        ("date", date.str.contains(r"^\d{4}-\d{2}-\d{2}$") & time.str.contains(r"^\d{2}:\d{2}(:\d{2})?$")),
        ("commune", place_ok),
        ("passagers", seats.is_between(1, 9)),
        ("distance", dist.is_not_null() & (dist >= 0) & dist.is_finite()),
        ("duree", dur.is_not_null() & (dur >= 0) & dur.is_finite()),
        ("incitation", c("has_incentive").str.to_uppercase().is_in(["OUI", "NON"])),
        ("classe", c("operator_class").is_in(["A", "B", "C"])),
    ]
    reason = pl.lit(None, pl.String)
    for key, ok in reversed(checks):
        reason = pl.when(~ok.fill_null(False)).then(pl.lit(REASONS[key])).otherwise(reason)
    return lf.select(
        c("numero_ligne").cast(pl.UInt32),
        c("journey_id"),
        c("trip_id"),
        date.str.slice(0, 7).alias("mois"),
        time.str.slice(0, 2).cast(pl.Int8, strict=False).alias("heure"),
        c("journey_start_insee").alias("insee_depart"),
        c("journey_end_insee").alias("insee_arrivee"),
        c("journey_start_country").alias("pays_depart"),
        c("journey_end_country").alias("pays_arrivee"),
        c("journey_start_lon").cast(pl.Float32, strict=False).alias("lon_depart"),
        c("journey_start_lat").cast(pl.Float32, strict=False).alias("lat_depart"),
        c("journey_end_lon").cast(pl.Float32, strict=False).alias("lon_arrivee"),
        c("journey_end_lat").cast(pl.Float32, strict=False).alias("lat_arrivee"),
        seats.cast(pl.Int8, strict=False).alias("passagers"),
        c("operator_class").alias("classe_operateur"),
        dist.round(0).cast(pl.Int32, strict=False).alias("distance_m"),
        dur.round(0).cast(pl.Int32, strict=False).alias("duree_min"),
        (c("has_incentive").str.to_uppercase() == "OUI").alias("incitation"),
        reason.alias("motif_rejet"),
        c("ligne_brute"),
    )


def _split_lines(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Lines -> the fields used; a line that does not split into 27 fields keeps its raw text."""
    n = pl.col("_f").list.len()
    return lf.with_columns(_f=pl.col("_l").str.split(SEPARATOR)).select(
        "numero_ligne", (n == len(COLUMNS)).alias("_champs_ok"), pl.when(n != len(COLUMNS)).then(pl.col("_l")).alias("ligne_brute"),
        *[_field(c) for c in USED],
    )


def _careful_rows(numbers: list[int], lines: list[str]) -> pl.DataFrame:
    """Lines that do not split into 27 fields, read by Python's csv module (a `;` may be quoted)."""
    rows = []
    for number, line in zip(numbers, lines, strict=True):
        fields = next(csv.reader([line], delimiter=SEPARATOR, quotechar='"'), [])
        ok = len(fields) == len(COLUMNS)
        values = [(f.strip() or None) for f in fields[: len(COLUMNS)]] + [None] * max(0, len(COLUMNS) - len(fields))
        rows.append([number, ok, None if ok else line, *values])
    schema = {"numero_ligne": pl.UInt32, "_champs_ok": pl.Boolean, "ligne_brute": pl.String,
              **{c: pl.String for c in COLUMNS}}
    return pl.DataFrame(rows, schema=schema, orient="row").select("numero_ligne", "_champs_ok", "ligne_brute", *USED)


def parse_file(path: Path, typed_path: Path) -> FileParse:
    """Parse one monthly file into a typed Parquet file (one streaming pass); count rejected rows per reason."""
    path = Path(path)
    header = read_header(path)
    if tuple(header) != FORMAT.required:
        missing = [c for c in FORMAT.required if c not in header]
        detail = f"colonne(s) manquante(s) : {', '.join(missing)}" if missing else "colonnes dans un autre ordre"
        raise SourceError(f"rpc: en-tête inattendu dans {path.name} ({len(header)} colonnes ; {detail})")
    typed_path.parent.mkdir(parents=True, exist_ok=True)
    scan_path, is_temp = _plain_csv(path, typed_path.parent)
    try:
        lines = pl.scan_csv(
            scan_path, has_header=False, skip_rows=1, separator="\x1f", quote_char=None, new_columns=["_l"],
            infer_schema=False, eol_char="\n",
        ).with_row_index("numero_ligne", offset=2).with_columns(pl.col("_l").str.strip_suffix("\r")).filter(
            pl.col("_l").str.strip_chars() != "")
        _typed(_split_lines(lines)).sink_parquet(typed_path, compression="zstd", compression_level=1)
    finally:
        if is_temp:
            scan_path.unlink(missing_ok=True)
    return _finish(path, typed_path)


def _finish(path: Path, typed_path: Path) -> FileParse:
    """Re-read the rare lines that did not split into 27 fields, reject duplicated ids, count.

    A line with a `;` inside a quoted text splits into too many fields: Python's csv module
    reads it properly; a line that still has the wrong count stays rejected, with its raw text.
    """
    odd = pl.scan_parquet(typed_path).filter(pl.col("ligne_brute").is_not_null()).select(
        "numero_ligne", "ligne_brute").collect()
    valid = pl.col("motif_rejet").is_null()
    dup = (
        pl.scan_parquet(typed_path).filter(valid).group_by("journey_id").len().filter(pl.col("len") > 1)
        .select(pl.col("len").sum() - pl.len()).collect().item()
    ) or 0
    if odd.height or dup:  # rare: one more pass over this month
        full = pl.read_parquet(typed_path)
        if odd.height:
            fixed = _typed(_careful_rows(odd["numero_ligne"].to_list(), odd["ligne_brute"].to_list()).lazy())
            full = pl.concat([full.filter(pl.col("ligne_brute").is_null()), fixed.collect()]).sort("numero_ligne")
        first = full.with_row_index("_i").filter(valid).group_by("journey_id").agg(pl.col("_i").min())["_i"]
        full = full.with_row_index("_i").with_columns(
            motif_rejet=pl.when(valid & ~pl.col("_i").is_in(first.implode())).then(pl.lit(REASONS["doublon"]))
            .otherwise(pl.col("motif_rejet"))
        ).drop("_i")
        full.write_parquet(typed_path, compression="zstd", compression_level=1)
    summary = pl.scan_parquet(typed_path).group_by("motif_rejet").len().collect()
    rejected = Counter({r: n for r, n in summary.iter_rows() if r is not None})
    months = (
        pl.scan_parquet(typed_path).filter(valid).select(pl.col("mois").unique()).collect()["mois"].sort().to_list()
    )
    return FileParse(path=path, typed=typed_path, rows=int(summary["len"].sum()), rejected=rejected, months=months)


# -- the source ---------------------------------------------------------------------------------
class Rpc(Source):
    name = "rpc"
    title = "Trajets réalisés en covoiturage (Registre de preuve de covoiturage), fichiers mensuels"
    publisher = "Registre de preuve de covoiturage (ministère chargé des transports)"
    homepage = HOMEPAGE
    licence = "Licence Ouverte 2.0"
    attribution = "Registre de preuve de covoiturage (covoiturage.beta.gouv.fr), Licence Ouverte 2.0"
    vintage = "12 derniers mois publiés"
    min_rows = 1
    rows_by = ("main", ("mois",), "lignes")  # the drop check compares each month present in both versions
    provenance = ("Fichiers mensuels de l'éditeur, trouvés par l'API de data.gouv.fr ; la copie hors ligne n'en a "
                  "aucun : les mois y sont simulés (données simulées).")
    resources_ = (Resource("catalogue", API_URL, FORMAT_SAMPLE, filename="catalogue.json"),)

    def format_of(self, key: str, options: dict[str, Any]) -> CsvFormat | None:
        """Monthly files (keyed `YYYY-MM`) have the 27 columns; the API's catalogue is checked by discovery."""
        return FORMAT if re.fullmatch(r"\d{4}-\d{2}", key) else None

    def resources(self, ctx: FetchContext) -> list[Resource]:
        """Live: the monthly files asked for. Mirror: the simulator's inputs (recorded in the manifest)."""
        if ctx.mirror is not None:
            from etl.simulate_rpc import mirror_resources

            return mirror_resources()
        return self._discover(ctx)

    def _discover(self, ctx: FetchContext) -> list[Resource]:
        dest = Path(ctx.raw_dir) / self.name / "catalogue.json"
        try:
            staged = download.stage(API_URL, dest, label="rpc/catalogue", session=ctx.session, conditional=False,
                                    progress=False, **ctx.download_kwargs)
        except download.DownloadError as exc:
            raise SourceError(str(exc)) from exc
        try:
            listing = json.loads(staged.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            staged.discard()
            raise SourceError(f"rpc: réponse de l'API data.gouv.fr illisible ({exc})") from exc
        staged.commit()
        chosen = choose_months(monthly_resources(listing), parse_months(ctx.options.get("months")))
        if not chosen:
            raise SourceError("rpc: aucun fichier mensuel trouvé dans le jeu de données data.gouv.fr")
        return [Resource(m, url, f"rpc/{m}.csv", filename=f"{m}{_suffix(url)}") for m, url in chosen.items()]

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        if ctx.mirror is not None:
            from etl.simulate_rpc import simulate_for_source

            monthly, notes = simulate_for_source(files, ctx)
            nature, vintage = "simule", f"{_span(list(monthly))}, mois simulés (aucun fichier mensuel dans le miroir)"
        else:
            monthly = {k: v for k, v in files.items() if re.fullmatch(r"\d{4}-\d{2}", k)}
            notes, nature, vintage = [], None, _span(list(monthly))
        typed_dir = Path(ctx.raw_dir) / self.name / "types"
        return parse_files(monthly, typed_dir, notes=notes, nature=nature, vintage=vintage)


def parse_files(monthly: dict[str, Path], typed_dir: Path, *, notes: list[str] | None = None,
                nature: str | None = None, vintage: str | None = None) -> Parsed:
    """Parse monthly files one after the other; the main table lists the typed file of each month."""
    rows, rejected, table = 0, Counter(), []
    for month, path in sorted(monthly.items()):
        result = parse_file(path, typed_dir / f"{month}.parquet")
        rows += result.rows
        rejected.update(result.rejected)
        table.append({"mois": month, "fichier": str(path), "fichier_type": str(result.typed), "lignes": result.rows,
                      "lignes_rejetees": sum(result.rejected.values()), "mois_des_trajets": ",".join(result.months)})
    main = pl.DataFrame(table, schema={"mois": pl.String, "fichier": pl.String, "fichier_type": pl.String,
                                       "lignes": pl.Int64, "lignes_rejetees": pl.Int64, "mois_des_trajets": pl.String})
    return Parsed({"main": main}, rows_read=rows, rejected=rejected, notes=list(notes or []), nature=nature,
                  vintage=vintage)


def _suffix(url: str) -> str:
    low = url.lower().split("?")[0]
    for s in (".csv.gz", ".zip", ".csv"):
        if low.endswith(s):
            return s
    return ".csv"


def _span(months: list[str]) -> str:
    months = sorted(months)
    if not months:
        return "aucun mois"
    return months[0] if len(months) == 1 else f"{months[0]} à {months[-1]}"


SOURCE = Rpc()
