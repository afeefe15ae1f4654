"""INSEE housing census 2021 per commune: dwellings, main and secondary homes, vacant.

The live file is a zip holding a `;`-separated CSV of ~100 columns (decimals, since INSEE
weights its census); the mirror holds the 5 columns we use, rounded. The geography is that of
2023: former codes are moved to today's communes in the `territoires` mart (`etl.cog`).
Paris, Lyon and Marseille have a row for the city *and* one per arrondissement.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import polars as pl

from etl.cog import COMMUNE_CODE_RE
from etl.formats import CsvFormat, zip_data_member
from etl.sources.base import FetchContext, Parsed, Resource, Source, require_columns

COLUMNS = {
    "P21_LOG": "logements",
    "P21_RP": "residences_principales",
    "P21_RSECOCC": "residences_secondaires",
    "P21_LOGVAC": "logements_vacants",
}
#: The live file has about 100 columns (not listed): only the ones read are required.
FORMAT = CsvFormat(("CODGEO", *COLUMNS), separator=";")


def read_csv_bytes(path: Path) -> bytes:
    """The CSV inside a zip (the largest .csv member but a metadata file), or the file itself."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return zf.read(zip_data_member(zf.infolist()))
    return path.read_bytes()


class InseeLogement(Source):
    name = "insee_logement"
    title = "Logement en 2021 : bases communales (recensement de la population)"
    publisher = "Insee"
    homepage = "https://www.insee.fr/fr/statistiques/8202349"
    licence = "Licence Ouverte 2.0"
    attribution = "Insee, recensement de la population 2021, exploitation principale"
    vintage = "2021"
    min_rows = 30_000
    national_totals = {"logements": ("main", "logements")}  # the drop check (sum of the file's rows)
    provenance = "Fichier de l'éditeur (insee.fr) : l'archive zip de la base communale, dont seul le CSV est lu."
    formats = FORMAT
    resources_ = (
        Resource(
            "main",
            "https://www.insee.fr/fr/statistiques/fichier/8202349/base-cc-logement-2021_csv.zip",
            "insee-logement/base-cc-logement-2021-extrait.csv",
        ),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raw = pl.read_csv(io.BytesIO(read_csv_bytes(files["main"])), separator=";", infer_schema=False)
        require_columns(raw, FORMAT.required, source=self.name, what="le fichier logement")
        df = raw.select(
            pl.col("CODGEO").str.strip_chars().alias("code"),
            *[pl.col(c).str.strip_chars().str.replace(",", ".").alias(f"_{c}") for c in COLUMNS],
        )
        rejected = Counter()
        bad_code = ~pl.col("code").fill_null("").str.contains(COMMUNE_CODE_RE)
        rejected["code commune mal formé"] = df.filter(bad_code).height
        df = df.filter(~bad_code)
        casts = [pl.col(f"_{c}").cast(pl.Float64, strict=False).alias(name) for c, name in COLUMNS.items()]
        typed = df.with_columns(casts)
        not_numeric = pl.any_horizontal(
            [pl.col(f"_{c}").is_not_null() & (pl.col(f"_{c}") != "") & pl.col(name).is_null() for c, name in COLUMNS.items()]
        )
        rejected["valeur non numérique"] = typed.filter(not_numeric).height
        typed = typed.filter(~not_numeric).select("code", *COLUMNS.values())
        return Parsed({"main": typed.sort("code")}, rows_read=raw.height, rejected=+rejected)


SOURCE = InseeLogement()
