"""Bring commune-coded data from an older geography to today's communes.

Sources lag the official geography (COG): housing 2021 uses 68 codes of communes merged since,
BPE 2009/2013 about 1,740, carpool places a few. Every such row is moved to the commune that
holds the former commune today (table `cog_passage`) and summed there: never dropped. Rows for
the arrondissements municipaux of Paris, Lyon and Marseille are either kept apart (when the
source also has a row for the whole city: never add both) or rolled up into their city.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

COMMUNE_CODE_RE = r"^(\d{5}|2[AB]\d{3})$"


@dataclass
class Harmonised:
    """Values summed per current commune, and per arrondissement when the source has them."""

    communes: pl.DataFrame
    arrondissements: pl.DataFrame
    remapped: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)


def current_passage(passage: pl.DataFrame, communes: pl.DataFrame) -> pl.DataFrame:
    """The rows of `cog_passage` whose target is a commune of today's reference (`communes` has `code`)."""
    return passage.filter(pl.col("code_actuel").is_in(communes["code"].implode()))


def classify_codes(
    df: pl.DataFrame,
    *,
    code_col: str,
    passage: pl.DataFrame,
    communes: pl.Series | list[str],
    arrondissements: pl.DataFrame,
) -> pl.DataFrame:
    """Row by row, what a commune code of an older geography is today (rows are kept, in order).

    Adds `kind` ("actuel", "ancien", "arrondissement" or "inconnu"), `code_commune` (today's
    commune; the city for an arrondissement; null when unknown) and `code_arrondissement`
    (the arrondissement's own code, else null). Arguments as in `harmonise_communes`.
    """
    current = pl.DataFrame({"_code": pl.Series(communes, dtype=pl.String)}).with_columns(_current=pl.lit(True))
    arr = arrondissements.select(pl.col("code").alias("_code"), pl.col("code_commune").alias("_parent"))
    return (
        df.with_columns(pl.col(code_col).cast(pl.String).str.strip_chars().alias("_code"))
        .join(current, on="_code", how="left", maintain_order="left")
        .join(arr, on="_code", how="left", maintain_order="left")
        .join(passage.select(pl.col("code_ancien").alias("_code"), pl.col("code_actuel").alias("_former")),
              on="_code", how="left", maintain_order="left")
        .with_columns(
            kind=pl.when(pl.col("_current").is_not_null()).then(pl.lit("actuel"))
            .when(pl.col("_parent").is_not_null()).then(pl.lit("arrondissement"))
            .when(pl.col("_former").is_not_null()).then(pl.lit("ancien"))
            .otherwise(pl.lit("inconnu"))
        )
        .with_columns(
            code_commune=pl.when(pl.col("kind") == "actuel").then(pl.col("_code"))
            .when(pl.col("kind") == "ancien").then(pl.col("_former"))
            .when(pl.col("kind") == "arrondissement").then(pl.col("_parent")),
            code_arrondissement=pl.when(pl.col("kind") == "arrondissement").then(pl.col("_code")),
        )
        .drop("_code", "_current", "_parent", "_former")
    )


def harmonise_communes(
    df: pl.DataFrame,
    *,
    code_col: str,
    sum_cols: list[str],
    passage: pl.DataFrame,
    communes: pl.Series | list[str],
    arrondissements: pl.DataFrame,
    arrondissement_mode: Literal["separate", "rollup"] = "separate",
) -> Harmonised:
    """Sum `sum_cols` per current commune code (`code_commune`) and per arrondissement.

    - `passage`: columns `code_ancien`, `code_actuel` (source `cog_passage`).
    - `communes`: today's commune codes.
    - `arrondissements`: columns `code` (arrondissement) and `code_commune` (its city).
    - `arrondissement_mode`: "separate" when the source has rows for both the city and its
      arrondissements (they are kept apart, never added); "rollup" when it has arrondissements
      only (they are also summed into their city).

    A null value stays null unless another row of the same commune has a value: a commune that
    had no data does not become 0.
    """
    classified = classify_codes(
        df.select(code_col, *sum_cols).rename({code_col: "_source_code"}), code_col="_source_code",
        passage=passage, communes=communes, arrondissements=arrondissements,
    )
    rejected = Counter()
    n_unknown = classified.filter(pl.col("kind") == "inconnu").height
    if n_unknown:
        rejected["code commune inconnu (ni actuel, ni ancien, ni arrondissement)"] = n_unknown
    remapped = Counter()
    n_former = classified.filter(pl.col("kind") == "ancien").height
    if n_former:
        remapped["codes anciens ramenés à la commune actuelle"] = n_former

    to_commune = classified.filter(pl.col("kind").is_in(["actuel", "ancien"]))
    arr_rows = classified.filter(pl.col("kind") == "arrondissement")
    if arrondissement_mode == "rollup" and arr_rows.height:
        remapped["arrondissements additionnés dans leur ville"] = arr_rows.height
        to_commune = pl.concat([to_commune, arr_rows])
    return Harmonised(
        communes=_sum_by(to_commune, "code_commune", sum_cols),
        arrondissements=_sum_by(arr_rows, "code_arrondissement", sum_cols),
        remapped=remapped,
        rejected=rejected,
    )


def _sum_by(df: pl.DataFrame, key: str, sum_cols: list[str]) -> pl.DataFrame:
    return (
        df.group_by(key)
        .agg([null_if_empty_sum(c) for c in sum_cols])
        .sort(key)
        .select(key, *sum_cols)
    )


def null_if_empty_sum(col: str) -> pl.Expr:
    """Sum that stays null when every value is null (polars would give 0)."""
    return pl.when(pl.col(col).count() > 0).then(pl.col(col).sum()).otherwise(None).alias(col)
