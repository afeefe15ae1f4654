"""Base nationale des lieux de covoiturage (BNLC): every carpool place, with its coordinates.

Schema `etalab/schema-lieux-covoiturage` 0.3. The live run reads the consolidated national base
`bnlc.csv` that transport.data.gouv.fr builds every day (`Transport.Jobs.ConsolidateBNLCJob` of
`etalab/transport-site`): the manually kept part `bnlc-.csv` of the GitHub repository
`etalab/transport-base-nationale-covoiturage` plus every valid resource of the schema published on
data.gouv.fr, with `id_lieu` first and two columns added at the end, `dataset_id` and
`resource_id` (ignored here; `bnlc_github` on the manually kept rows). Its address is the
resource download URL of the transport.data.gouv.fr dataset, and, as a fallback, data.gouv.fr's
stable link to the same resource (production id in the job's configuration). The mirror holds
the manually kept part (2,473 places), same schema: both parse. Sample: `tests/samples/live/`.
Quirks handled here: an empty capacity (`nbre_pl`, 870 rows) is *unknown*, not 0; `insee` is
sometimes a former commune code or a postal code (the mart places each place by its
coordinates); `date_maj` may lie in the future (kept, noted by the mart).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl

from etl.formats import CsvFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, require_columns

#: The mirror's copy was taken in May 2026: the stock it describes is that of 2026.
MIRROR_SNAPSHOT_YEAR = "2026"
REQUIRED = ("id_lieu", "nom_lieu", "insee", "type", "Xlong", "Ylat", "nbre_pl")
OPTIONAL = ("ad_lieu", "com_lieu", "date_maj", "ouvert", "nbre_pmr", "proprio", "lumiere", "source", "horaires")
#: Columns of the schema the parser does not read, and those the consolidation adds.
OTHER = ("id_local", "duree", "comm", "dataset_id", "resource_id")
FORMAT = CsvFormat(REQUIRED, known=OPTIONAL + OTHER)
#: The consolidated base: transport.data.gouv.fr's download URL of `bnlc.csv`, and data.gouv.fr's stable link.
URL = "https://transport.data.gouv.fr/resources/81372/download"
FALLBACK = "https://www.data.gouv.fr/fr/datasets/r/4fd78dee-e122-4c0d-8bf6-ff55d79f3af1"


def _bool(col: str) -> pl.Expr:
    text = pl.col(col).str.strip_chars().str.to_lowercase()
    return pl.when(text.is_in(["true", "vrai", "oui", "1"])).then(True).when(
        text.is_in(["false", "faux", "non", "0"])).then(False).otherwise(None)


def _count(col: str) -> pl.Expr:
    """A whole number of spaces; empty -> null (unknown), never 0."""
    return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False).round(0).cast(pl.Int32, strict=False)


class Bnlc(Source):
    name = "bnlc"
    title = "Base nationale des lieux de covoiturage"
    publisher = "transport.data.gouv.fr (Etalab), d'après les collectivités"
    homepage = "https://transport.data.gouv.fr/datasets/base-nationale-des-lieux-de-covoiturage"
    licence = "ODbL"
    attribution = "Base nationale des lieux de covoiturage, transport.data.gouv.fr, ODbL"
    vintage = "mises à jour de décembre 2018 à mai 2026"
    min_rows = 1_000
    national_totals = {"places": ("main", "places")}  # the drop check: carpool places of France
    provenance = ("Base nationale consolidée de l'éditeur (bnlc.csv, transport.data.gouv.fr ; à défaut le lien "
                  "stable data.gouv.fr de la même ressource) : la partie tenue à la main sur GitHub plus les lieux "
                  "publiés par les collectivités. La copie hors ligne n'a que la partie tenue à la main.")
    formats = FORMAT
    resources_ = (Resource("main", URL, "bnlc/bnlc-.csv", filename="bnlc.csv", fallbacks=(FALLBACK,)),)

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raw = pl.read_csv(files["main"], infer_schema=False, encoding="utf8-lossy")
        require_columns(raw, FORMAT.required, source=self.name, what="la base")
        for col in OPTIONAL:
            if col not in raw.columns:
                raw = raw.with_columns(pl.lit(None, pl.String).alias(col))
        text = [pl.col(c).str.strip_chars() for c in ("id_lieu", "nom_lieu", "ad_lieu", "com_lieu", "insee", "type",
                                                        "proprio", "horaires")]
        df = raw.select(
            *text,
            pl.col("Xlong").str.strip_chars().str.replace(",", ".").cast(pl.Float64, strict=False).alias("longitude"),
            pl.col("Ylat").str.strip_chars().str.replace(",", ".").cast(pl.Float64, strict=False).alias("latitude"),
            _count("nbre_pl").alias("places"),
            _count("nbre_pmr").alias("places_pmr"),
            (pl.col("nbre_pl").str.strip_chars().fill_null("") != "").alias("_capacite_donnee"),
            _bool("ouvert").alias("ouvert"),
            _bool("lumiere").alias("eclairage"),
            pl.col("date_maj").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("date_maj"),
            pl.col("source").str.strip_chars().alias("source_donnee"),
        )
        rejected = Counter()
        notes = []
        no_id = pl.col("id_lieu").fill_null("") == ""
        in_france = pl.col("longitude").is_between(-64, 56) & pl.col("latitude").is_between(-22, 52)
        no_place = ~in_france.fill_null(False) & ~pl.col("insee").fill_null("").str.contains(r"^(\d{5}|2[AB]\d{3})$")
        for reason, bad in (("identifiant absent", no_id),
                            ("ni coordonnées plausibles, ni code commune", no_place)):
            rejected[reason] = df.filter(bad).height
            df = df.filter(~bad)
        dupes = df.height - df["id_lieu"].n_unique()
        if dupes:
            rejected["identifiant en double"] = dupes
            df = df.unique("id_lieu", keep="first", maintain_order=True)
        unreadable = df.filter(pl.col("_capacite_donnee") & pl.col("places").is_null()).height
        if unreadable:
            notes.append(f"{unreadable} capacité(s) illisible(s), comptée(s) comme inconnue(s)")
        unknown = df.filter(pl.col("places").is_null()).height
        notes.append(f"{unknown} lieux sans capacité renseignée (capacité inconnue, jamais 0)")
        df = df.with_columns(pl.when(in_france).then(pl.col("longitude")).alias("longitude"),
                             pl.when(in_france).then(pl.col("latitude")).alias("latitude")).drop("_capacite_donnee")
        # the period of the stock: the year the copy was taken (not the latest `date_maj`, which is
        # 2023 but for one date in the future)
        year = MIRROR_SNAPSHOT_YEAR if ctx.mirror is not None else str(date.today().year)
        snapshot = pl.DataFrame({"periode": [year]})
        return Parsed({"main": df.sort("id_lieu"), "photographie": snapshot}, rows_read=raw.height,
                      rejected=+rejected, notes=notes)


SOURCE = Bnlc()
