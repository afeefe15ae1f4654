"""Page "Covoiturage": its logic on the committed marts, AppTest runs per level, one browser test."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import covoiturage as cov
from dashboard.territory import resolve
from etl import covoiturage as cv

PAGE = "dashboard/pages/covoiturage.py"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


@pytest.fixture(scope="module")
def marts(data_dir):
    return {name: pl.read_parquet(data_dir / "covoiturage" / f"{name}.parquet")
            for name in ("mensuel", "flux", "heures", "distances", "etranger", "aires", "campagnes")}


def test_periods():
    options = cov.periods(MONTHS)
    assert [p.key for p in options["annee"]] == ["2024"]
    assert [p.label for p in options["trimestre"]][:2] == ["1er trimestre 2024", "2e trimestre 2024"]
    assert options["trimestre"][0].months == ("2024-01", "2024-02", "2024-03")
    assert cov.periods(MONTHS[:5])["annee"] == []  # an incomplete year is not offered
    period, message = cov.parse_period("2024-t2", MONTHS)
    assert period.key == "2024-T2" and message is None
    period, message = cov.parse_period("2024-03", MONTHS)
    assert period.label == "mars 2024"
    period, message = cov.parse_period("<b>2031</b>", MONTHS)
    assert period.key == "2024" and "n'est pas disponible" in message and "<" not in message


def test_figures_are_sums_of_months(marts, territoires):
    bordeaux = resolve(territoires, "commune", "33063")
    year = cov.parse_period("2024", MONTHS)[0]
    got = cov.figures(marts["mensuel"], territoires, bordeaux, year)
    rows = marts["mensuel"].filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    assert got["trajets"] == rows["trajets"].sum() and got["mois_presents"] == 12 and got["simule"]
    assert got["taux_occupation"] == pytest.approx(
        (rows["km_passagers"].sum() + rows["km_conducteurs"].sum()) / rows["km_conducteurs"].sum())
    assert got["trajets_pour_1000_hab"] == pytest.approx(got["trajets"] / 267_991 * 1000)
    q1 = cov.figures(marts["mensuel"], territoires, bordeaux, cov.parse_period("2024-T1", MONTHS)[0])
    assert q1["trajets"] == rows.filter(pl.col("mois") <= "2024-03")["trajets"].sum()


def test_simulated_epci_totals_match_the_real_ones(data_dir):
    """The embedded simulation is calibrated on the real 2024 totals: within 1 % (exact in fact)."""
    rows = pl.read_parquet(data_dir / "indicateurs" / "*.parquet").filter(
        (pl.col("indicateur") == "covoit_trajets") & (pl.col("niveau") == "epci") & (pl.col("periode") == "2024"))
    wide = rows.pivot(on="source", index="code", values="valeur").drop_nulls()
    assert wide.height == 1_228  # every EPCI with a real total above 0 (4 of the 1,232 published are 0)
    assert ((wide["rpc"] - wide["mobilites_durables"]).abs() <= 0.01 * wide["mobilites_durables"]).all()
    bm = rows.filter(pl.col("code") == "243300316")
    assert dict(bm.select("source", "valeur").iter_rows()) == {"mobilites_durables": 68_886, "rpc": 68_886}
    assert dict(bm.select("source", "nature").iter_rows()) == {"mobilites_durables": "reel", "rpc": "simule"}


def test_flows_of_a_territory(marts, territoires):
    year = cov.parse_period("2024", MONTHS)[0]
    bordeaux = resolve(territoires, "commune", "33063")
    pairs = cov.flows(marts["flux"], territoires, marts["etranger"], bordeaux, year)
    assert pairs.height and ((pairs["code_1"] == "33063") | (pairs["code_2"] == "33063")).all()
    assert pairs["passagers"].is_sorted(descending=True)
    assert pairs["nom_1"].null_count() == 0 and pairs["longitude_2"].null_count() == 0
    expected = marts["flux"].filter((pl.col("niveau") == "commune") & (pl.col("code_1") == "33063")
                                    & (pl.col("code_2") == "33281"))["passagers"].sum()
    assert pairs.filter(pl.col("code_2") == "33281")["passagers"].item() == expected
    # Haute-Savoie: flows to Switzerland, drawn at the mean of the real foreign points
    hs = cov.flows(marts["flux"], territoires, marts["etranger"], resolve(territoires, "departement", "74"), year)
    swiss = hs.filter(pl.col("code_2") == "etranger:Suisse")
    assert swiss.height and swiss["nom_2"][0] == "Suisse (étranger)"


def test_tooltips_are_escaped(marts, territoires):
    t = resolve(territoires, "departement", "42")
    places = cov.places_for(marts["aires"], t)
    assert places.filter(pl.col("nom").str.contains('"')).height  # names with quotes exist in the Loire
    deck = cov.flow_deck(marts["flux"].head(0).with_columns(*[pl.lit(None, pl.String).alias(c) for c in (
        "nom_1", "nom_2")], *[pl.lit(None, pl.Float64).alias(c) for c in ("longitude_1", "latitude_1", "longitude_2",
                                                                          "latitude_2")]), places,
                         cov.maps.view_for(None))
    spec = deck.to_json()
    assert "&quot;" in spec and "<script" not in spec
    unknown = places.filter(pl.col("places").is_null()).height
    assert spec.count("capacité inconnue") == unknown


def test_distribution_of_a_commune_is_yearly(marts, territoires):
    bordeaux = resolve(territoires, "commune", "33063")
    march = cov.parse_period("2024-03", MONTHS)[0]
    hours, note = cov.distribution(marts["heures"], bordeaux, march, "heure")
    assert "année" in note and hours["trajets"].sum() == marts["mensuel"].filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "33063"))["trajets"].sum()
    epci = resolve(territoires, "epci", "243300316")
    classes, note = cov.distribution(marts["distances"], epci, march, "classe_distance")
    assert note is None and classes["classe_distance"].to_list() == [
        c for c in cv.DISTANCE_LABELS if c in classes["classe_distance"].to_list()]
    assert classes["trajets"].sum() == marts["mensuel"].filter(
        (pl.col("niveau") == "epci") & (pl.col("code") == "243300316") & (pl.col("mois") == "2024-03"))["trajets"].item()


# -- AppTest ------------------------------------------------------------------------------------
def texts(at) -> str:
    parts = [m.label + " " + str(m.value) for m in at.metric]
    for kind in (at.markdown, at.caption, at.info, at.warning, at.title, at.subheader):
        parts += [str(x.value) for x in kind]
    return "\n".join(parts)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_commune_with_data(app, marts):
    at = app(PAGE, niveau="commune", code="33063")
    assert not at.exception
    body = texts(at)
    assert "environ 15 %" in body and "Données simulées" in body
    year = marts["mensuel"].filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))["trajets"].sum()
    assert metric(at, "Trajets") == cov.fmt.number(year)
    assert "68\u202f886 trajets" in body  # Bordeaux Métropole's real total, beside the simulated figures
    assert at.query_params["periode"] == ["2024"] or at.query_params["periode"] == "2024"


def test_page_commune_without_data(app, marts, territoires):
    # Le Palais, on Belle-Île-en-Mer: its EPCI published 0 carpool trips in 2024
    palais = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_epci") == "245600465"))["code"][0]
    assert marts["mensuel"].filter(pl.col("code") == palais).height == 0
    at = app(PAGE, niveau="commune", code=palais)
    assert not at.exception
    assert metric(at, "Trajets") == "pas de donnée"
    assert "Aucun trajet du registre" in texts(at)


def test_page_epci_month(app):
    at = app(PAGE, niveau="epci", code="243300316", periode="2024-03")
    assert not at.exception
    body = texts(at)
    assert "mars 2024" in body and "Total réel 2024" in body
    assert at.selectbox(key="covoit_periode").value == "2024-03"


def test_page_departement_and_france(app):
    for niveau, code in (("departement", "33"), ("france", "FR"), ("arrondissement", "75101")):
        at = app(PAGE, niveau=niveau, code=code, periode="2024-T2")
        assert not at.exception, (niveau, at.exception)
        assert "2e trimestre 2024" in texts(at)


def test_page_bad_period(app):
    at = app(PAGE, niveau="france", code="FR", periode="2024-13")
    assert not at.exception
    assert any("n'est pas disponible" in w.value for w in at.warning)


# -- browser ------------------------------------------------------------------------------------
@pytest.mark.browser
def test_flow_map_and_places_render(browser, server):
    """The deck draws both layers: blue arcs of flows and red carpool places (there is no basemap)."""
    from io import BytesIO

    import numpy as np
    from PIL import Image

    from tests.conftest import wait_for_app, wait_until

    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    try:
        # CA du Niortais: flows, 52 carpool places and an incentive campaign
        page.goto(f"{server}/covoiturage?niveau=epci&code=200041317&periode=2024", timeout=90_000)
        wait_for_app(page, timeout=120)
        chart = page.locator('[data-testid="stDeckGlJsonChart"]').first
        chart.scroll_into_view_if_needed(timeout=120_000)  # a loaded machine draws the page slowly
        chart.locator("canvas").first.wait_for(timeout=60_000)

        def colours() -> tuple[int, int] | None:
            """the deck has drawn its arcs (#000091) and its places (#E1000F)"""
            rgb = np.asarray(Image.open(BytesIO(chart.screenshot())).convert("RGB")).astype(int)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            blue = int(((b > 100) & (r < 90) & (g < 90)).sum())
            red = int(((r > 180) & (g < 60) & (b < 60)).sum())
            return (blue, red) if blue > 200 and red > 50 else None

        blue, red = wait_until(colours, timeout=60, every=0.5)
    finally:
        page.close()
    assert blue > 200 and red > 50


def test_period_widgets_write_the_url(app):
    at = app(PAGE, niveau="departement", code="33")
    assert at.segmented_control(key="covoit_type_periode").value == "annee"
    at.segmented_control(key="covoit_type_periode").set_value("trimestre").run()
    assert not at.exception
    assert at.query_params["periode"] in ("2024-T4", ["2024-T4"])
    assert "4e trimestre 2024" in texts(at)
    at.selectbox(key="covoit_periode").set_value("2024-T1").run()
    assert at.query_params["periode"] in ("2024-T1", ["2024-T1"]) and "1er trimestre 2024" in texts(at)


def test_campaign_and_incentive_share_do_not_contradict(app, mirror):
    """Issue #11, point 9: « Campagne d'incitation : non » stood beside « avec incitation 25,2 % » unexplained."""
    import json

    campaigns = {c["code_siren"] for c in json.loads(
        (mirror / "incitations-covoiturage" / "incitations-covoiturage.json").read_text(encoding="utf-8"))}
    assert "243300316" not in campaigns  # Bordeaux Métropole runs no campaign of the list
    at = app(PAGE, niveau="epci", code="243300316")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Campagne d'incitation"] == "non"
    assert metrics["Avec incitation"] not in ("pas de donnée", "0,0\u202f%")  # some journeys are incentivised
    captions = " ".join(c.value for c in at.caption)
    assert "de toute origine" in captions and "pas seulement les campagnes des collectivités" in captions
    assert "de l'intercommunalité (liste d'avril 2026)" in captions
