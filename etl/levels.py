"""Sums up the territorial levels: commune -> EPCI -> département -> région -> France.

Every domain computes its counts per commune (and per arrondissement where it can), then calls
`roll_up`; rates are computed *after*, at each level, from the summed numerator and
denominator (see `ratio`), never averaged.
"""

from __future__ import annotations

import polars as pl

from etl.cog import null_if_empty_sum

FRANCE_CODE = "FR"
UP_LEVELS = ("epci", "departement", "region", "france")


def roll_up(
    values: pl.DataFrame,
    communes: pl.DataFrame,
    sum_cols: list[str],
    *,
    arrondissements: pl.DataFrame | None = None,
    code_col: str = "code_commune",
) -> pl.DataFrame:
    """Sum `sum_cols` from communes to every level; return `niveau`, `code`, *sum_cols.

    - `values`: one row per current commune (`code_col`), already harmonised (see `etl.cog`).
    - `communes`: the commune rows of `territoires` (columns `code`, `code_epci`,
      `code_departement`, `code_region`).
    - `arrondissements`: optional per-arrondissement values (`code_arrondissement`, *sum_cols),
      emitted at level `arrondissement` as they are.

    A level gets a null (not 0) where none of its communes has a value. Communes absent from
    `values` count as "no data", so they do not turn a null into a 0 either.
    """
    parents = communes.select("code", "code_epci", "code_departement", "code_region")
    # sorted: float sums must not depend on the row order a join happened to produce (the embedded
    # data is rebuilt and compared byte for byte)
    base = values.rename({code_col: "code"}).join(parents, on="code", how="left").sort("code")
    unknown = base.filter(pl.col("code_departement").is_null())
    if unknown.height:
        raise ValueError(f"codes de commune inconnus dans roll_up : {unknown['code'].head(5).to_list()}")
    frames = [base.select(pl.lit("commune").alias("niveau"), "code", *sum_cols)]
    for level, key in (("epci", "code_epci"), ("departement", "code_departement"), ("region", "code_region")):
        frames.append(
            base.filter(pl.col(key).is_not_null())
            .group_by(key)
            .agg([null_if_empty_sum(c) for c in sum_cols])
            .select(pl.lit(level).alias("niveau"), pl.col(key).alias("code"), *sum_cols)
        )
    frames.append(
        base.select([null_if_empty_sum(c) for c in sum_cols]).select(
            pl.lit("france").alias("niveau"), pl.lit(FRANCE_CODE).alias("code"), *sum_cols
        )
    )
    if arrondissements is not None and arrondissements.height:
        frames.append(
            arrondissements.select(
                pl.lit("arrondissement").alias("niveau"), pl.col("code_arrondissement").alias("code"), *sum_cols
            )
        )
    out = pl.concat([f.with_columns([pl.col(c).cast(pl.Float64) for c in sum_cols]) for f in frames])
    return out.sort("niveau", "code")


def ratio(numerator: str, denominator: str, scale: float = 1.0) -> pl.Expr:
    """`numerator / denominator * scale`, null where the denominator is null or 0."""
    den = pl.col(denominator)
    return pl.when(den.is_not_null() & (den != 0)).then(pl.col(numerator) / den * scale).otherwise(None)
