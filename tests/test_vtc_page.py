"""Page "VTC et taxis" (AppTest) and its pure builders."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import fmt
from dashboard import vtc as v
from dashboard.figures import with_unit
from dashboard.territory import Territory
from tests.test_tiers_lieux_page import bad_link, table_with

PAGE = "dashboard/pages/vtc_taxis.py"


@pytest.fixture(scope="module")
def ind(data_dir) -> pl.DataFrame:
    return pl.read_parquet(data_dir / "indicateurs" / "vtc.parquet")


def one(ind: pl.DataFrame, niveau: str, code: str, indicateur: str, periode: str) -> float:
    return ind.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicateur)
                      & (pl.col("periode") == periode))["valeur"].item()


@pytest.mark.parametrize(("niveau", "code"), [
    ("commune", "06088"),        # Nice: taxis in 2009 and 2013
    ("commune", "23076"),        # Évaux-les-Bains: a small commune
    ("epci", "243300316"),       # Bordeaux Métropole
    ("departement", "23"),       # Creuse
    ("france", "FR"),
])
def test_page_for_each_level(app, ind, niveau, code):
    at = app(PAGE, niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    expected = one(ind, niveau, code, "vtc_equipements", "2018")
    assert metrics["Taxis et VTC (estimation)"] == with_unit(expected, "équipements", 0)
    assert metrics["Taxis (BPE, avant les VTC)"] == with_unit(one(ind, niveau, code, "taxis_bpe", "2013"),
                                                              "équipements", 0)
    # the estimate is labelled and explained, and the note says what is and is not counted
    assert any("Estimation, pas une mesure" in w.value for w in at.warning)
    assert any("56 000 chauffeurs VTC" in i.value for i in at.info)
    ranking = table_with(at, "Taxis 2013")
    assert "Taxis et VTC (estimation 2018)" in ranking.columns
    assert ranking.shape[0] >= 1
    assert len(at.get("plotly_chart")) == 2  # the series and the aires urbaines
    assert at.get("deck_gl_json_chart")


def test_nice(app, ind):
    at = app(PAGE, niveau="commune", code="06088")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Taxis (BPE, avant les VTC)"] == "296 équipements"
    assert metrics["Taxis et VTC (estimation)"] == "391 équipements"  # 296 x 27,709 / 20,980
    assert metrics["Taxis et VTC en France, 2018"] == "68\u202f169"
    ranking = table_with(at, "Taxis 2013")
    assert ranking["Commune"].iloc[0] == "Nice"  # first in its intercommunality
    assert ranking.shape[0] == 20


def test_commune_without_data(app):
    """Bihorel has no row in the 2013 table: "pas de donnée", never a 0, and no traceback."""
    at = app(PAGE, niveau="commune", code="76095")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Taxis et VTC"] == fmt.NO_DATA
    assert metrics["Taxis et VTC pour 10 000 habitants"] == fmt.NO_DATA
    assert metrics["Taxis (BPE, avant les VTC)"] == "2 équipements"  # its 2009 count, the latest it has
    series = [c.value for c in at.caption]
    assert any(c.startswith("2009") for c in series)


def test_unknown_code_falls_back_to_france():
    at = bad_link(PAGE)
    assert not at.exception
    assert any("introuvable" in w.value for w in at.warning)


def test_series_of_nice(ind):
    rows = v.series(ind, Territory("commune", "06088", "Nice"))
    assert rows["libelle"].to_list() == ["Taxis 2009 (BPE)", "Taxis 2013 (BPE)", "Taxis et VTC 2018 (estimation)"]
    assert rows["valeur"].to_list()[:2] == [299, 296]
    fig = v.series_chart(rows)
    assert fig.data[0].marker.pattern.shape == ("", "", "/")  # the estimate is hatched


def test_ranking_and_context(ind, territoires, data_dir):
    communes = v.communes_of(territoires, Territory("departement", "06", "Alpes-Maritimes"))
    ranked = v.ranking(ind, communes, n=None)
    assert ranked.height == communes.height
    assert ranked["nom"][0] == "Nice"
    assert ranked["vtc"].drop_nulls().is_sorted(descending=True)
    aires = pl.read_parquet(data_dir / v.AIRES_TABLE)
    ctx = v.national_context(aires)
    assert (ctx["total_2013"], ctx["total_2018"]) == (34_995, 68_169)
    assert ctx["part_paris_hausse_pct"] == pytest.approx((40_460 - 14_015) / (68_169 - 34_995) * 100)
    assert v.top_aires(aires, 3)["libelle"].to_list() == ["Paris", "Lyon", "Nice"]


def test_two_2013_counts_on_one_page_say_what_they_are(app, mirror):
    """Issue #11, point 9: 35,590 and 34,995 taxis stood on one page for different things, unexplained."""
    per_commune = pl.read_csv(mirror / "bpe-historique/bpe_taxi_par_commune_2009_2013.csv", infer_schema=False)
    per_area = pl.read_csv(mirror / "bpe-historique/bpe_E101_taxi_vtc_par_aire_urbaine2010_2013_2018.csv",
                           infer_schema=False)
    taxis = per_commune["nb_taxi_2013"].cast(pl.Int64).sum()  # 35,590
    e101 = per_area["nb_2013"].cast(pl.Int64).sum()  # 34,995
    at = app(PAGE, niveau="france", code="FR")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Taxis (BPE, avant les VTC)"] == with_unit(taxis, "équipements", 0)
    assert metrics["Taxis et VTC en France, 2013"] == fmt.number(e101)
    captions = " ".join(c.value for c in at.caption)
    assert f"{fmt.number(e101)} équipements « Taxi - VTC »" in captions
    assert f"{fmt.number(taxis)} « taxis (BPE, avant les VTC) »" in captions
    assert f"diffèrent de {fmt.number(taxis - e101)} équipements" in captions
