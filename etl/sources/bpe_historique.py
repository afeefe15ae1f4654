"""Older releases of INSEE's Base permanente des équipements: taxis 2009-2013, taxi-VTC 2013-2018.

Two real extracts, frozen (an archive: read from the mirror in both modes, since INSEE's old
releases are wide xls/dbf files and these tables were taken out of them once):

- `communes`: `code_commune,nb_taxi_2009,nb_taxi_2013`, the equipment "Taxi" per commune
  before VTC existed, in the geography of each year (former codes; Paris, Lyon and Marseille
  by arrondissement only); blank = not a commune that year. National 32,153 and 35,590.
- `aires_urbaines`: `id_au2010,libelle_au2010,typequ,nb_2013,nb_2018`, equipment E101
  "Taxi - VTC" per aire urbaine (zoning of 2010): 34,995 in 2013, 68,169 in 2018. Ids of three
  characters are aires urbaines ("001" Paris); longer ids are the rest of a département
  (`<dep>000` isolated communes, `<dep>997`/`<dep>998` multipolarised communes).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from etl.cog import COMMUNE_CODE_RE
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError, require_columns

#: Where the extracts come from (INSEE's releases as kept by a public research repository): provenance
#: only, the files there are in INSEE's original wide formats (see `archive`).
ORIGIN = "https://github.com/JGravier/postdoc_services_publics/tree/HEAD/BPE/data"
ORIGIN_AU = "https://github.com/JGravier/postdoc_services_publics/blob/HEAD/BPE/data/bpe1318_nb_equip_au.dbf"
COMMUNE_COLUMNS = {"nb_taxi_2009": "taxis_2009", "nb_taxi_2013": "taxis_2013"}
AU_COLUMNS = ["id_au2010", "libelle_au2010", "typequ", "nb_2013", "nb_2018"]
#: Categories of the rows that are not aires urbaines (the last three characters of a 5-character id).
OUTSIDE_AU = {
    "000": "communes isolées hors influence des pôles",
    "997": "communes multipolarisées des grandes aires urbaines",
    "998": "autres communes multipolarisées",
}


def _counts(df: pl.DataFrame, columns: dict[str, str], rejected: Counter, what: str) -> pl.DataFrame:
    """Cast count columns to integers; a non-empty value that is not a whole number >= 0 rejects its row."""
    text = {c: pl.col(c).str.strip_chars().replace("", None) for c in columns}
    typed = df.with_columns(text[c].cast(pl.Int64, strict=False).alias(f"_n_{c}") for c in columns)
    bad = pl.any_horizontal(
        (text[c].is_not_null() & pl.col(f"_n_{c}").is_null()) | (pl.col(f"_n_{c}") < 0).fill_null(False)
        for c in columns
    )
    rejected[f"{what} : valeur non entière ou négative"] += typed.filter(bad).height
    return typed.filter(~bad).drop(columns).rename({f"_n_{c}": name for c, name in columns.items()})


class BpeHistorique(Source):
    name = "bpe_historique"
    title = "Base permanente des équipements : taxis 2009-2013 par commune, taxis-VTC 2013-2018 par aire urbaine"
    publisher = "Insee (Base permanente des équipements, éditions 2009, 2013 et 2018)"
    homepage = "https://www.insee.fr/fr/metadonnees/source/serie/s1161"
    licence = "Licence Ouverte 2.0"
    attribution = "Insee, Base permanente des équipements 2009, 2013 et 2018"
    vintage = "BPE 2009, 2013, 2018"
    archive = True
    min_rows = 30_000
    resources_ = (
        Resource("communes", ORIGIN, "bpe-historique/bpe_taxi_par_commune_2009_2013.csv"),
        Resource("aires_urbaines", ORIGIN_AU, "bpe-historique/bpe_E101_taxi_vtc_par_aire_urbaine2010_2013_2018.csv"),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        rejected: Counter = Counter()
        com = pl.read_csv(files["communes"], infer_schema=False)
        rows_read = com.height
        require_columns(com, ["code_commune", *COMMUNE_COLUMNS], source=self.name, what="le fichier des taxis")
        com = com.with_columns(pl.col("code_commune").str.strip_chars())
        bad_code = ~pl.col("code_commune").fill_null("").str.contains(COMMUNE_CODE_RE)
        rejected["communes : code mal formé"] = com.filter(bad_code).height
        com = _counts(com.filter(~bad_code), COMMUNE_COLUMNS, rejected, "communes")
        dupes = com.height - com["code_commune"].n_unique()
        if dupes:
            rejected["communes : code en double"] = dupes
            com = com.unique("code_commune", keep="first", maintain_order=True)
        com = com.select("code_commune", *COMMUNE_COLUMNS.values()).sort("code_commune")

        au = pl.read_csv(files["aires_urbaines"], infer_schema=False)
        rows_read += au.height
        require_columns(au, AU_COLUMNS, source=self.name, what="le fichier des aires urbaines")
        other = au.filter(pl.col("typequ") != "E101")
        if other.height:
            raise SourceError(f"{self.name}: équipement autre que E101 dans le fichier des aires urbaines "
                              f"({other['typequ'][0]})")
        au = _counts(au.with_columns(pl.col("id_au2010").str.strip_chars()), {"nb_2013": "nb_2013",
                                                                                "nb_2018": "nb_2018"},
                     rejected, "aires urbaines")
        au = au.select(
            pl.col("id_au2010").alias("id_au"),
            pl.col("libelle_au2010").str.strip_chars().alias("libelle"),
            pl.when(pl.col("id_au2010").str.len_chars() == 3).then(pl.lit("aire urbaine"))
            .otherwise(pl.col("id_au2010").str.slice(-3).replace_strict(OUTSIDE_AU, default="hors aire urbaine"))
            .alias("categorie"),
            "nb_2013",
            "nb_2018",
        ).sort("id_au")
        return Parsed({"main": com, "aires_urbaines": au}, rows_read=rows_read, rejected=+rejected)


SOURCE = BpeHistorique()
