"""Typed periods (issue #11, point 1): never compared as text; a real annual figure beats simulated months."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard import compare
from etl import periods


def test_parse_every_kind():
    assert periods.parse("2024") == periods.Period("2024", "annee", date(2024, 1, 1), date(2024, 12, 31))
    assert periods.parse("2024-T1").end == date(2024, 3, 31)
    assert periods.parse("2024-02").end == date(2024, 2, 29)  # a leap year
    assert periods.parse("2023-02").end == date(2023, 2, 28)
    assert periods.parse("2024-03-23").kind == "jour"
    for bad in ("2024-13", "24", "2024-1", "2024-T5", "2024-02-30", "", None):
        with pytest.raises(periods.PeriodError):
            periods.parse(bad)


def test_chronological_order_is_not_text_order():
    texts = ["2024", "2024-12", "2024-11", "2021-12", "2024-03-23", "2023"]
    assert sorted(texts)[-1] == "2024-12"  # the bug: as text, December "beats" the year
    assert periods.sort(texts) == ["2021-12", "2023", "2024-03-23", "2024-11", "2024-12", "2024"]
    assert periods.latest(texts) == "2024"
    assert periods.parse("2024").contains(periods.parse("2024-07"))


def test_polars_expressions_agree_with_parse():
    texts = ["2024", "2024-T3", "2024-02", "2024-02-29", "2019", "2021-12"]
    df = periods.typed_columns(pl.DataFrame({"periode": texts}))
    for text, kind, start, end in df.select("periode", "type_periode", "debut", "fin").iter_rows():
        p = periods.parse(text)
        assert (kind, start, end) == (p.kind, p.start, p.end), text
    assert df.sort(periods.sort_expr())["periode"].to_list() == periods.sort(texts)


def test_latest_rule_on_the_real_carpool_rows(mirror, data_dir):
    """Bordeaux Métropole: the real 2024 total (as published in the mirror) beats the simulated months."""
    published = pl.read_csv(mirror / "mobilites-durables" / "nb-trajets-covoiturage_2024_export.csv",
                            schema_overrides={"territoryid": pl.String})
    expected = published.filter(pl.col("territoryid") == "243300316")["valeur"].item()
    rows = pl.read_parquet(data_dir / "indicateurs" / "covoiturage.parquet")
    rows = pl.concat([rows, pl.read_parquet(data_dir / "indicateurs" / "covoiturage_annuel.parquet")])
    mine = rows.filter((pl.col("code") == "243300316") & (pl.col("indicateur") == "covoit_trajets"))
    assert "2024-12" in mine["periode"].to_list()  # simulated months are there...
    got = compare.latest(mine, [("epci", "243300316")], ["covoit_trajets"]).row(0, named=True)
    assert (got["periode"], got["nature"], got["source"], got["valeur"]) == ("2024", "reel", "mobilites_durables",
                                                                            expected)


def test_a_measured_month_beats_a_simulated_year_and_a_later_year_wins():
    rows = pl.DataFrame({
        "niveau": ["epci"] * 4, "code": ["x"] * 4, "indicateur": ["i"] * 4,
        "periode": ["2024", "2024-12", "2024-06", "2023"], "valeur": [1.0, 2.0, 3.0, 4.0],
        "nature": ["simule", "simule", "reel", "reel"], "source": ["a", "a", "b", "b"]})
    assert periods.latest_rows(rows, ["code"])["periode"].item() == "2024-06"  # real, same year
    sim_only = rows.filter(pl.col("nature") == "simule")
    assert periods.latest_rows(sim_only, ["code"])["periode"].item() == "2024"  # the year before its December
    later = pl.concat([rows, rows.head(1).with_columns(periode=pl.lit("2025-01"))])
    assert periods.latest_rows(later, ["code"])["periode"].item() == "2025-01"
