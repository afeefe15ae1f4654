"""Real 2024 carpool trips per EPCI, from the ministry's "tableau de bord des mobilités durables".

Indicator "nombre de trajets en covoiturage", source Registre de preuve de covoiturage, as its
publisher states (the counting rule is not documented). One row per EPCI (`territoryid` =
SIREN): `annee,lieu,valeur,territoryid`, CRLF line endings, values written as floats
("68886.0"). Four island communes outside any EPCI carry a pseudo-identifier "99" + région +
commune code (Île-de-Bréhat: 995322016): they are kept at commune level.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from etl.formats import CsvFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, require_columns

PSEUDO_COMMUNE_RE = r"^99\d{2}(\d{5}|2[AB]\d{3})$"
FORMAT = CsvFormat(("annee", "valeur", "territoryid"), known=("lieu",))


class MobilitesDurables(Source):
    name = "mobilites_durables"
    title = "Nombre de trajets en covoiturage par EPCI (tableau de bord des mobilités durables)"
    publisher = "Ministère chargé des transports, tableau de bord des mobilités durables (d'après le RPC)"
    homepage = "https://www.ecologie.gouv.fr/politiques-publiques/covoiturage"
    licence = "Licence Ouverte 2.0 (données publiques, licence présumée)"
    attribution = "Ministère chargé des transports, tableau de bord des mobilités durables, d'après le Registre de preuve de covoiturage"
    vintage = "2024"
    min_rows = 1_000
    national_totals = {"trajets": ("main", "trajets")}  # the drop check: trips of the year
    provenance = ("Copie publique (dépôt GitHub Guillaume-BR/diag_360, branche par défaut) d'un export du tableau "
                  "de bord du ministère : le tableau de bord n'offre pas d'adresse de fichier stable, seulement une "
                  "page (mobilite-durable-tdb.din.developpement-durable.gouv.fr) d'où l'export a été fait à la main.")
    formats = FORMAT
    resources_ = (
        Resource(
            "main",
            # the public copy the mirror was taken from: its own script (backend/scripts/api/i150.py) names the
            # ministry's dashboard page, which has no stable file URL; HEAD, the repository's branch being master
            "https://raw.githubusercontent.com/Guillaume-BR/diag_360/HEAD/backend/scripts/source/i150.csv",
            "mobilites-durables/nb-trajets-covoiturage_2024_export.csv",
        ),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raw = pl.read_csv(files["main"], infer_schema=False, eol_char="\n")
        raw = raw.rename({c: c.strip() for c in raw.columns})
        require_columns(raw, FORMAT.required, source=self.name, what="l'export")
        df = raw.select(
            pl.col("annee").str.strip_chars(),
            pl.col("lieu").str.strip_chars().alias("nom") if "lieu" in raw.columns else pl.lit(None, pl.String).alias("nom"),
            pl.col("territoryid").str.strip_chars().alias("code"),
            pl.col("valeur").str.strip_chars().cast(pl.Float64, strict=False).alias("trajets"),
        )
        rejected = Counter()
        epci = pl.col("code").str.contains(r"^\d{9}$") & ~pl.col("code").str.starts_with("99")
        pseudo = pl.col("code").str.contains(PSEUDO_COMMUNE_RE)
        df = df.with_columns(
            niveau=pl.when(pseudo).then(pl.lit("commune")).when(epci).then(pl.lit("epci")),
            code=pl.when(pseudo).then(pl.col("code").str.slice(4)).otherwise(pl.col("code")),
        )
        checks = [
            ("identifiant de territoire inconnu (ni SIREN d'EPCI, ni commune hors EPCI)", pl.col("niveau").is_null()),
            ("année mal formée", ~pl.col("annee").fill_null("").str.contains(r"^\d{4}$")),
            ("valeur non numérique ou négative", pl.col("trajets").is_null() | (pl.col("trajets") < 0)),
        ]
        for reason, bad in checks:
            rejected[reason] = df.filter(bad).height
            df = df.filter(~bad)
        dupes = df.height - df.select("niveau", "code", "annee").n_unique()
        if dupes:
            rejected["territoire en double"] = dupes
            df = df.unique(["niveau", "code", "annee"], keep="first", maintain_order=True)
        df = df.select("niveau", "code", "nom", "annee", "trajets").sort("niveau", "code")
        return Parsed({"main": df}, rows_read=raw.height, rejected=+rejected)


SOURCE = MobilitesDurables()
