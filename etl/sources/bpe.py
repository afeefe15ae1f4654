"""INSEE's Base permanente des équipements (current release): taxi-VTC equipment E101 per commune.

Live only: the offline mirror has no current copy (`mirror_optional`), so the embedded data
shows the documented estimate instead (see `etl/marts/vtc.py`); a live run replaces it with
these real counts. Chosen with `--vtc-source bpe` (the default).

Format (`DS_BPE_CSV_FR.zip`, a "Melodi" export): a zip holding `DS_BPE_<year>_data.csv` and
`DS_BPE_<year>_metadata.csv`; the data file is `;`-separated, one row per (territory, equipment
type, measure, year). The address stays the same from one edition to the next (it held the 2024
edition, it now holds the 2025 one, `DS_BPE_2025_data.csv`, with `UNIT_MEASURE`, `OBS_STATUS`
and `UNIT_MULT` added): the vintage is read from `TIME_PERIOD`, never assumed. Sample:
`tests/samples/live/`.

    "GEO";"GEO_OBJECT";"FACILITY_DOM";"FACILITY_SDOM";"FACILITY_TYPE";"BPE_MEASURE";"TIME_PERIOD";"OBS_VALUE"
    "75056";"COM";"E";"E1";"E101";"FACILITIES";2024;18702

Kept: `GEO_OBJECT` = COM (communes; ARM, arrondissements, when present), `FACILITY_TYPE` = E101,
`BPE_MEASURE` = FACILITIES when the column is there. A commune absent from the file has no such
equipment (the BPE is exhaustive): the mart counts it 0. The file is large (millions of rows):
the data member is extracted to a temporary file and scanned lazily, never loaded whole.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from etl.cog import COMMUNE_CODE_RE
from etl.formats import CsvFormat, zip_data_member
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError, require_columns
from etl.store import temp_dir_prefix

REQUIRED = ("GEO", "GEO_OBJECT", "FACILITY_TYPE", "TIME_PERIOD", "OBS_VALUE")
FORMAT = CsvFormat(REQUIRED, separator=";", known=("FACILITY_DOM", "FACILITY_SDOM", "BPE_MEASURE", "UNIT_MEASURE",
                                                   "OBS_STATUS", "UNIT_MULT"))
FACILITY = "E101"
GEO_OBJECTS = {"COM": "commune", "ARM": "arrondissement"}


def data_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    """The data CSV of a Melodi zip (not its metadata file): also what `check-live` reads."""
    try:
        return zip_data_member(members)
    except ValueError as exc:
        raise SourceError(f"bpe: {exc}") from exc


def read_e101(path: Path, source: str = "bpe") -> tuple[pl.DataFrame, int, Counter]:
    """E101 rows of a BPE data file (zip or CSV): `niveau`, `code`, `periode`, `equipements`."""
    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix("bpe")) as tmp:
        csv_path = Path(path)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                member = data_member(zf.infolist())
                csv_path = Path(tmp) / "data.csv"
                with zf.open(member) as src, open(csv_path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        lf = pl.scan_csv(csv_path, separator=";", infer_schema=False, quote_char='"')
        columns = lf.collect_schema().names()
        require_columns(columns, FORMAT.required, source=source, what="le fichier de la BPE")
        keep = (pl.col("FACILITY_TYPE").str.strip_chars() == FACILITY) & pl.col("GEO_OBJECT").str.strip_chars().is_in(
            list(GEO_OBJECTS))
        if "BPE_MEASURE" in columns:
            keep = keep & (pl.col("BPE_MEASURE").str.strip_chars() == "FACILITIES")
        total, rows = pl.collect_all([
            lf.select(pl.len()),
            lf.filter(keep).select(
                pl.col("GEO_OBJECT").str.strip_chars().replace_strict(GEO_OBJECTS).alias("niveau"),
                # the Melodi API writes "COM-75056"; the file writes "75056": accept both
                pl.col("GEO").str.strip_chars().str.replace(r"^(COM|ARM)-", "").alias("code"),
                pl.col("TIME_PERIOD").str.strip_chars().alias("periode"),
                pl.col("OBS_VALUE").str.strip_chars().alias("_valeur"),
            ),
        ])
    rejected: Counter = Counter()
    rows = rows.with_columns(equipements=pl.col("_valeur").str.replace(",", ".").cast(pl.Float64, strict=False))
    bad_code = ~pl.col("code").fill_null("").str.contains(COMMUNE_CODE_RE)
    bad_period = ~pl.col("periode").fill_null("").str.contains(r"^\d{4}$")
    bad_value = pl.col("equipements").is_null() | (pl.col("equipements") < 0) | (
        pl.col("equipements") != pl.col("equipements").round(0))
    for reason, cond in (("code commune mal formé", bad_code), ("année mal formée", bad_period),
                         ("valeur non entière ou négative", bad_value)):
        rejected[reason] = rows.filter(cond).height
        rows = rows.filter(~cond)
    dupes = rows.height - rows.select("niveau", "code", "periode").n_unique()
    if dupes:
        rejected["ligne en double (territoire, année)"] = dupes
        rows = rows.unique(["niveau", "code", "periode"], keep="first", maintain_order=True)
    out = rows.select("niveau", "code", "periode", pl.col("equipements").cast(pl.Int64)).sort("niveau", "code", "periode")
    return out, total.item(), +rejected


class Bpe(Source):
    name = "bpe"
    title = "Base permanente des équipements : taxis-VTC (E101) par commune"
    publisher = "Insee"
    homepage = "https://www.insee.fr/fr/statistiques/8217527"
    licence = "Licence Ouverte 2.0"
    attribution = "Insee, Base permanente des équipements"
    vintage = "BPE de l'édition publiée (année lue dans TIME_PERIOD), équipements au 1er janvier"
    mirror_optional = True
    min_rows = 1_000  # about 10,000 communes have a taxi or VTC company
    provenance = ("Fichier de l'éditeur (insee.fr), à une adresse qui ne change pas d'une édition à l'autre : "
                  "l'année est lue dans le fichier (TIME_PERIOD).")
    formats = FORMAT
    resources_ = (
        Resource("main", "https://www.insee.fr/fr/statistiques/fichier/8217527/DS_BPE_CSV_FR.zip",
                 "vtc/DS_BPE_CSV_FR.zip"),
    )

    def selected(self, options: dict[str, Any]) -> bool:
        return (options.get("vtc_source") or "bpe") == "bpe"

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        rows, total, rejected = read_e101(files["main"], self.name)
        years = sorted(rows["periode"].unique().to_list())
        if not years:
            raise SourceError(f"{self.name}: aucune ligne E101 avec une année (TIME_PERIOD) lisible")
        notes = [f"{rows.height} lignes E101 gardées sur {total} lignes du fichier ; années : " + ", ".join(years)]
        return Parsed({"main": rows}, rows_read=total, rejected=rejected, notes=notes, vintage=vintage_of(years))


def vintage_of(years: list[str]) -> str:
    """"BPE 2025 (équipements au 1er janvier 2025)", from the years of the file's TIME_PERIOD."""
    latest = max(years)
    older = [y for y in years if y != latest]
    text = f"BPE {latest} (équipements au 1er janvier {latest})"
    return text + (f", et {', '.join(older)}" if older else "")


SOURCE = Bpe()
