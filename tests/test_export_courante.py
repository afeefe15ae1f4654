"""Extracts of the figures the dashboard shows (`--periode courante`): the one answer, nothing else."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import valeurs
from etl import export


def test_current_extract_is_the_one_answer_per_territory_and_indicator(data_dir, mirror):
    request = export.Request(niveau="epci", parent="33", periodes=("courante",), format="csv")
    p = export.plan(request, data_dir)
    assert p.courante and "valeurs-courantes" in p.filename
    rows = pl.concat(list(export.batches(p)))
    assert not rows.select(pl.struct("code", "indicateur").is_duplicated().any()).item()
    current = pl.read_parquet(data_dir / "valeurs" / "courantes.parquet")
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet")
    levels = valeurs.available(current)
    for r in rows.sample(min(rows.height, 200), seed=3).iter_rows(named=True):
        v = valeurs.answer(current.filter(pl.col("code") == r["code"]), catalogue, "epci", r["code"],
                           r["indicateur"], levels)
        assert (r["valeur"], r["periode"], r["nature"], r["source"]) == (v.valeur, v.periode, v.nature, v.source)
    # Bordeaux Métropole's carpool trips: the real 2024 total as published, not a simulated month
    published = pl.read_csv(mirror / "mobilites-durables" / "nb-trajets-covoiturage_2024_export.csv",
                            schema_overrides={"territoryid": pl.String})
    bm = rows.filter((pl.col("code") == "243300316") & (pl.col("indicateur") == "covoit_trajets")).row(0, named=True)
    assert (bm["periode"], bm["nature"]) == ("2024", "reel")
    assert bm["valeur"] == published.filter(pl.col("territoryid") == "243300316")["valeur"].item()


def test_periods_are_checked_as_periods(data_dir):
    with pytest.raises(export.ExportError, match="mal écrite"):
        export.plan(export.Request(niveau="epci", parent="33", periodes=("2024-13",)), data_dir)
    p = export.plan(export.Request(niveau="epci", parent="33", indicateurs=("covoit_trajets",), periodes=("2024",)),
                    data_dir)
    assert set(p.summary["periode"]) >= {"2024", "2024-01", "2024-12"}  # a year holds its months
    assert not p.courante
