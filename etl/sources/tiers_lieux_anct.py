"""Tiers-lieux of the ANCT (ex-CGET) "Mission coworking" base, 2019: 1,512 places.

Returns the common table of `etl/tiers_lieux_schema.py`, so that a newer national list can be
added later as another module with the same output. What this file needs:

- `INSEEMETRO` is the commune code (despite its name); `INSEECOM` is "0" on 157 rows and uses
  arrondissement codes, so it only stands in where `INSEEMETRO` is blank (3 places added in 2019).
  The commune is checked against the coordinates in the `tiers_lieux` mart.
- `TYPO`: "Tiers lieux à dominante coworking" / "... fablab" / blank -> coworking, fablab, inconnu.
- Personal data is never kept: `CONTACT` and `MAIL` (blanked in the mirror copy, filled in the
  publisher's file) are not read; the output holds only the schema's columns. `WEB` is kept
  only when it is an http(s) address (one row holds a person's name there).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import polars as pl

from etl import tiers_lieux_schema as schema
from etl.cog import COMMUNE_CODE_RE
from etl.formats import CsvFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, require_columns

COLUMNS = ["ID", "NOM_TL", "ADRESSE", "CP", "COMINIT", "INSEECOM", "WEB", "TYPO", "LAT", "LONG", "INSEEMETRO"]
#: Columns of the file that hold personal data: never read, whatever they contain.
PERSONAL_COLUMNS = ("CONTACT", "MAIL")
#: The file's other columns (not read).
OTHER_COLUMNS = ("NOMCOM", "TWITTER", "FACEBOOK", "GEOCOD", "PRECISION", "METRO", "NOMMETRO", "INSEEREG", "NOMREG",
                 "INSEEDEP", "NOMCOMMETRO", "POPCOM", "COMCLASS", "INSEE_ZE", "NOM_ZE", "CLASS_ZE", "POP_ZE")
FORMAT = CsvFormat(tuple(COLUMNS), known=PERSONAL_COLUMNS + OTHER_COLUMNS)
TYPES = {
    "tiers lieux à dominante coworking": "coworking",
    "tiers lieux à dominante fablab": "fablab",
}
VINTAGE = "2019"


class TiersLieuxAnct(Source):
    name = "tiers_lieux_anct"
    title = "Base des tiers-lieux de la Mission coworking (ANCT, ex-CGET)"
    publisher = "Agence nationale de la cohésion des territoires (ex-CGET)"
    homepage = "https://github.com/anct-carto/mission_coworking"
    licence = "Licence Ouverte 2.0"
    attribution = "ANCT (ex-CGET), base des tiers-lieux de la Mission coworking, 2019, Licence Ouverte 2.0"
    vintage = "2019 (enquête 2018 et 49 ajouts en 2019)"
    min_rows = 1_000
    provenance = ("Fichier de l'éditeur : le dépôt GitHub de l'ANCT (anct-carto/mission_coworking, branche par "
                  "défaut), où l'agence publie cette base.")
    formats = FORMAT
    resources_ = (
        Resource(
            "main",
            "https://raw.githubusercontent.com/anct-carto/mission_coworking/HEAD/CGET_TiersLieux_2019.csv",
            "tiers-lieux/CGET_TiersLieux_2019.csv",
        ),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raw_bytes = Path(files["main"]).read_bytes()
        header = pl.read_csv(io.BytesIO(raw_bytes), n_rows=0).columns
        require_columns(header, FORMAT.required, source=self.name, what="le fichier des tiers-lieux")
        # only the columns we use are read: CONTACT and MAIL never enter memory
        raw = pl.read_csv(io.BytesIO(raw_bytes), columns=COLUMNS, infer_schema=False)
        # blanks and the literal "NULL" some rows carry are missing values
        text = [pl.when(pl.col(c).str.strip_chars().str.to_uppercase().is_in(["", "NULL"])).then(None)
                .otherwise(pl.col(c).str.strip_chars()).alias(c) for c in COLUMNS]
        df = raw.with_columns(text).with_columns(
            pl.col("LAT").str.replace(",", ".").cast(pl.Float64, strict=False).alias("latitude"),
            pl.col("LONG").str.replace(",", ".").cast(pl.Float64, strict=False).alias("longitude"),
        )
        rejected: Counter = Counter()
        notes: list[str] = []

        no_coords = (
            pl.col("latitude").is_null() | pl.col("longitude").is_null()
            | ~pl.col("latitude").is_between(-90, 90) | ~pl.col("longitude").is_between(-180, 180)
        )
        rejected["coordonnées absentes ou hors bornes"] = df.filter(no_coords).height
        df = df.filter(~no_coords)
        no_name = pl.col("NOM_TL").is_null()
        rejected["nom absent"] = df.filter(no_name).height
        df = df.filter(~no_name)
        no_id = pl.col("ID").is_null() | pl.col("ID").is_duplicated()
        rejected["identifiant absent ou en double"] = df.filter(no_id).height
        df = df.filter(~no_id)

        well_formed = pl.col("INSEEMETRO").fill_null("").str.contains(COMMUNE_CODE_RE)
        fallback = pl.col("INSEECOM").fill_null("").str.contains(COMMUNE_CODE_RE)
        n_fallback = df.filter(~well_formed & fallback).height
        if n_fallback:
            notes.append(f"{n_fallback} lieux sans INSEEMETRO : code commune pris dans INSEECOM")
        n_none = df.filter(~well_formed & ~fallback).height
        if n_none:
            notes.append(f"{n_none} lieux sans code commune : commune déduite des coordonnées")

        web = [schema.web_address(v) for v in df["WEB"].to_list()]
        dropped_web = sum(1 for v, w in zip(df["WEB"].to_list(), web, strict=True) if v is not None and w is None)
        if dropped_web:
            notes.append(f"{dropped_web} valeurs de site web écartées (pas une adresse http(s))")

        out = df.select(
            pl.concat_str(pl.lit(f"anct{VINTAGE}-"), pl.col("ID").str.zfill(4)).alias("identifiant"),
            pl.lit(self.name).alias("source"),
            pl.lit(VINTAGE).alias("millesime"),
            pl.col("NOM_TL").alias("nom"),
            pl.col("TYPO").str.to_lowercase().replace_strict(TYPES, default="inconnu").alias("type"),
            pl.col("ADRESSE").alias("adresse"),
            pl.when(pl.col("CP").str.contains(r"^\d{5}$")).then(pl.col("CP")).alias("code_postal"),
            pl.col("COMINIT").alias("commune_adresse"),
            pl.when(well_formed).then(pl.col("INSEEMETRO"))
            .when(fallback).then(pl.col("INSEECOM")).alias("code_commune_declare"),
            pl.Series("site_web", web, dtype=pl.String),
            "longitude",
            "latitude",
        )
        return Parsed({"main": schema.conform(out)}, rows_read=raw.height, rejected=+rejected, notes=notes)


SOURCE = TiersLieuxAnct()
