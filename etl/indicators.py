"""The long `indicateurs` table and its `catalogue`: the contract every domain writes to.

One row per (niveau, code, indicateur, periode, source). A mart builds its rows with
`long_rows` and declares each indicator once with `Indicator`; the catalogue is made from
those declarations, so an indicator cannot exist without its label, unit and definition.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import polars as pl

NIVEAUX = ("commune", "arrondissement", "epci", "departement", "region", "france")
NATURES = ("reel", "estime", "simule")
FAMILLES = ("contexte", "collaboratif", "plateforme")
PERIOD_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

INDICATEURS_SCHEMA = {
    "niveau": pl.String,
    "code": pl.String,
    "indicateur": pl.String,
    "periode": pl.String,
    "valeur": pl.Float64,
    "nature": pl.String,
    "source": pl.String,
}


@dataclass(frozen=True)
class Indicator:
    """A catalogue entry.

    `sens`: 1 when a higher value means more of the family's phenomenon (more collaborative
    adoption, more platform penetration), -1 when it means less, 0 for context figures.
    """

    indicateur: str
    libelle: str
    unite: str
    definition: str
    famille: str
    domaine: str
    source: str
    licence: str
    sens: int = 1
    decimales: int = 1

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.indicateur):
            raise ValueError(f"identifiant d'indicateur invalide : {self.indicateur!r}")
        if self.famille not in FAMILLES:
            raise ValueError(f"{self.indicateur}: famille inconnue {self.famille!r}")
        if self.sens not in (-1, 0, 1):
            raise ValueError(f"{self.indicateur}: sens doit valoir -1, 0 ou 1")


CATALOGUE_SCHEMA = {
    "indicateur": pl.String,
    "libelle": pl.String,
    "unite": pl.String,
    "definition": pl.String,
    "famille": pl.String,
    "domaine": pl.String,
    "source": pl.String,
    "licence": pl.String,
    "sens": pl.Int8,
    "decimales": pl.Int8,
}


def catalogue_frame(indicators: list[Indicator]) -> pl.DataFrame:
    ids = [i.indicateur for i in indicators]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"indicateurs déclarés deux fois : {sorted(dupes)}")
    rows = [asdict(i) for i in indicators]
    return pl.DataFrame(rows, schema=CATALOGUE_SCHEMA).sort("domaine", "indicateur")


def long_rows(
    wide: pl.DataFrame,
    columns: dict[str, str],
    *,
    periode: str | pl.Expr,
    nature: str,
    source: str,
) -> pl.DataFrame:
    """Turn a per-territory frame (`niveau`, `code`, one column per value) into indicator rows.

    `columns` maps a column of `wide` to its indicator id. Null values are dropped: a
    territory without data has no row ("pas de donnée"), never a 0.
    """
    if nature not in NATURES:
        raise ValueError(f"nature inconnue {nature!r}")
    periode_expr = pl.lit(periode) if isinstance(periode, str) else periode
    out = (
        wide.with_columns(periode=periode_expr)
        .unpivot(index=["niveau", "code", "periode"], on=list(columns), variable_name="indicateur", value_name="valeur")
        .with_columns(
            pl.col("indicateur").replace_strict(columns),
            pl.col("valeur").cast(pl.Float64),
            nature=pl.lit(nature),
            source=pl.lit(source),
        )
        .filter(pl.col("valeur").is_not_null() & pl.col("valeur").is_finite())
    )
    return conform(out)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Cast to the contract's schema and check its invariants; raise on a breach."""
    missing = [c for c in INDICATEURS_SCHEMA if c not in df.columns]
    if missing:
        raise ValueError(f"colonnes manquantes dans indicateurs : {missing}")
    df = df.select([pl.col(c).cast(t) for c, t in INDICATEURS_SCHEMA.items()])
    bad_level = set(df["niveau"].unique()) - set(NIVEAUX)
    if bad_level:
        raise ValueError(f"niveaux inconnus : {sorted(bad_level)}")
    bad_nature = set(df["nature"].unique()) - set(NATURES)
    if bad_nature:
        raise ValueError(f"natures inconnues : {sorted(bad_nature)}")
    bad_period = [p for p in df["periode"].unique().to_list() if not PERIOD_RE.match(p or "")]
    if bad_period:
        raise ValueError(f"périodes mal formées : {bad_period[:5]}")
    keys = ["niveau", "code", "indicateur", "periode", "source"]
    if df.select(pl.struct(keys).is_duplicated().any()).item():
        raise ValueError("lignes en double pour (niveau, code, indicateur, periode, source)")
    return df.sort(keys)
