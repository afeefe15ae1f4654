"""Small numbers shown honestly (issue #12, point 5).

Months without a trip are a bar at zero, not a gap; a share computed on fewer than 10 trips is
not shown ("effectif faible"); an empty chart is a sentence; no "les 0 liaisons".
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from dashboard import covoiturage as cov
from dashboard.territory import resolve
from etl import periods

PAGE = "dashboard/pages/covoiturage.py"
ZERO = re.compile(r"\b(les|des|sur) 0 [a-zéè]+s\b")


@pytest.fixture(scope="module")
def mensuel(data_dir):
    return pl.read_parquet(data_dir / "covoiturage" / "mensuel.parquet")


@pytest.fixture(scope="module")
def months(mensuel):
    return periods.sort(mensuel["mois"].unique().to_list())


@pytest.fixture(scope="module")
def gap_commune(mensuel, months):
    """A commune with trips in some months only (the most trips among those with exactly one month missing)."""
    com = mensuel.filter(pl.col("niveau") == "commune").group_by("code").agg(
        n=pl.len(), trajets=pl.col("trajets").sum())
    return com.filter(pl.col("n") == len(months) - 1).sort(["trajets", "code"], descending=[True, False])["code"][0]


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning") for e in getattr(at, kind))


def test_a_month_without_trip_is_a_zero(mensuel, months, territoires, gap_commune):
    t = resolve(territoires, "commune", gap_commune)
    own = mensuel.filter((pl.col("niveau") == "commune") & (pl.col("code") == gap_commune))
    missing = sorted(set(months) - set(own["mois"]))
    assert len(missing) == 1
    series = cov.monthly_series(mensuel, t, months)
    assert series["mois"].to_list() == months
    zero = series.filter(pl.col("mois") == missing[0]).row(0, named=True)
    assert zero["trajets"] == 0 and zero["sans_trajet"]
    assert zero["part_incitation"] is None  # no share of nothing
    assert series["trajets"].sum() == own["trajets"].sum()


def test_shares_on_fewer_than_10_trips_are_hidden(mensuel, territoires):
    small = mensuel.filter((pl.col("niveau") == "commune") & pl.col("trajets").is_between(1, 9)).sort("code", "mois")
    r = small.row(0, named=True)
    t = resolve(territoires, "commune", r["code"])
    period = cov.Period(r["mois"], "mois", (r["mois"],))
    got = cov.figures(mensuel, territoires, t, period)
    assert got["trajets"] == r["trajets"] < cov.MIN_TRIPS_FOR_SHARE
    assert got["effectif_faible"] and got["part_interne"] is None and got["part_incitation"] is None
    assert cov.share_text(got["part_interne"], got["trajets"], "%", 1) == "effectif faible"
    assert cov.share_text(None, 0, "%", 1) == "aucun trajet"
    # the same commune over the year, with more trips: its share is computed from the sums
    year = cov.figures(mensuel, territoires, t, cov.Period("2024", "annee", tuple(periods.sort(
        mensuel["mois"].unique().to_list()))))
    rows = mensuel.filter((pl.col("niveau") == "commune") & (pl.col("code") == r["code"]))
    if rows["trajets"].sum() >= cov.MIN_TRIPS_FOR_SHARE:
        assert year["part_interne"] == pytest.approx(rows["trajets_internes"].sum() / rows["trajets"].sum() * 100)


def test_page_shows_zero_months_and_small_counts(app, gap_commune, mensuel, months):
    at = app(PAGE, niveau="commune", code=gap_commune)
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "Mois" in d.value.columns)
    assert len(table) == len(months)
    own = mensuel.filter((pl.col("niveau") == "commune") & (pl.col("code") == gap_commune))
    missing = sorted(set(months) - set(own["mois"]))[0]
    row = table[table["Mois"] == cov.fmt.month(missing)].iloc[0]
    # the count stays a number (the table sorts), the empty share says why in "Note"
    assert row["Trajets"] == 0 and row["Note"] == "aucun trajet"
    shown = texts(at)
    assert "1 mois sans trajet" in shown
    assert not ZERO.search(shown)


def test_no_zero_count_sentences():
    caption = cov.flows_caption(0, 0, "mars 2024")
    assert not ZERO.search(caption) and "0 lieux" not in caption and "0 liaisons" not in caption
    assert "Aucune liaison" in caption and "Aucun lieu" in caption
    assert cov.flows_caption(1, 1, "2024").startswith("Arcs bleus : la liaison la plus fréquentée")
    assert "les 12 liaisons" in cov.flows_caption(12, 3, "2024")


def test_a_commune_without_flow_or_trip_gets_sentences(app, mensuel, territoires):
    """A commune with no trip at all: sentences instead of empty charts, no "0 liaisons"."""
    with_trips = set(mensuel.filter(pl.col("niveau") == "commune")["code"])
    code = territoires.filter((pl.col("niveau") == "commune") & (pl.col("population") > 0)
                              & ~pl.col("code").is_in(list(with_trips))).sort("code")["code"][0]
    at = app(PAGE, niveau="commune", code=code)
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert not ZERO.search(shown), ZERO.search(shown)
    assert "Aucune liaison" in shown
    assert "pas de série à tracer" in shown
    assert not at.get("plotly_chart"), "no empty chart"
