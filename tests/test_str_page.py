"""Page "Locations de courte durée": AppTest for covered, partly covered and uncovered territories,
the snapshot in the URL, and a listing whose name is HTML (shown as text in tooltips and tables)."""

from __future__ import annotations

import json

import polars as pl
import pytest
import streamlit as st

from dashboard import fmt
from dashboard import locations as loc
from dashboard.territory import Territory
from tests.conftest import start_server, stop_server, wait_for_app, wait_until

PAGE = "dashboard/pages/locations_courte_duree.py"
XSS = "<img src=x onerror=alert(1)>"


def n(x: int) -> str:
    return fmt.number(x)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(at) -> str:
    return " ".join([c.value for c in at.caption] + [m.value for m in at.markdown] + [i.value for i in at.info]
                    + [w.value for w in at.warning])


def test_bordeaux_both_snapshots(app):
    at = app(PAGE, niveau="commune", code="33063")
    assert not at.exception
    m = metrics(at)
    assert m["Annonces"] == n(6_678)
    assert m["Nuitées estimées sur 12 mois (estimation)"]  # an estimate is labelled as such
    assert at.radio(key="str_instantane").value == "2024-03"
    assert at.query_params["instantane"] == ["2024-03"] or at.query_params["instantane"] == "2024-03"
    assert "Inside Airbnb, CC BY 4.0" in texts(at) and "mars 2024" in texts(at)
    assert "3 515 annonces présentes aux deux dates".replace(" ", "\u202f", 1) in texts(at)
    # the listing map and the two choropleths are drawn
    assert len(at.get("deck_gl_json_chart")) == 3
    at.radio(key="str_instantane").set_value("2021-12").run()
    assert not at.exception
    assert metrics(at)["Annonces"] == n(5_599)
    old = app(PAGE, niveau="commune", code="33063", instantane="2021-12")
    assert metrics(old)["Annonces"] == n(5_599)
    assert "premier instantané" in texts(old)


def test_bad_snapshot_in_link_falls_back_with_a_message(app):
    at = app(PAGE, niveau="epci", code="243300316", instantane="<b>2019</b>")
    assert not at.exception
    assert any("indisponible" in w.value and "2019" in w.value and "<b>" not in w.value for w in at.warning)
    assert metrics(at)["Annonces"] == n(12_030)


def test_merignac(app):
    at = app(PAGE, niveau="commune", code="33281")
    assert not at.exception
    m = metrics(at)
    assert m["Annonces"] == n(733)
    assert m["Numéro d'enregistrement bien formé"] == fmt.with_unit(0.0, "%", 1)
    assert "Bordeaux Métropole" in texts(at)


def test_lyon_3e_arrondissement(app):
    at = app(PAGE, niveau="arrondissement", code="69383")
    assert not at.exception
    assert metrics(at)["Annonces"] == n(1_780)
    # ranked among the other covered communes and arrondissements: 28 + 9, its own city left out
    assert "sur 37 communes et arrondissements couverts" in texts(at)


def test_gironde_is_partly_covered(app):
    at = app(PAGE, niveau="departement", code="33")
    assert not at.exception
    assert not at.metric  # no total for a territory covered in part
    assert any("couvert en partie" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert len(table) == 29 and table["Territoire"].iloc[0] == "Bordeaux Métropole"
    # the 28 communes, sorted as a French reader expects (accents ignored: Bègles before Blanquefort)
    assert table["Territoire"].iloc[1:].tolist() == sorted(table["Territoire"].iloc[1:], key=fmt.sort_key)


def test_france_and_metropole_de_lyon_list_what_is_covered(app):
    at = app(PAGE, niveau="france", code="FR")
    assert not at.exception and not at.metric
    assert at.dataframe[0].value["Territoire"].tolist() == ["Bordeaux Métropole", "Lyon"]
    lyon = app(PAGE, niveau="epci", code="200046977", instantane="2021-12")
    assert not lyon.exception and not lyon.metric
    assert lyon.dataframe[0].value["Territoire"].tolist() == ["Lyon"]
    assert lyon.dataframe[0].value["Annonces"].iloc[0] == 8_927  # a number: the table sorts it as such
    # the map shows Lyon's 9 arrondissements
    deck = json.loads(lyon.get("deck_gl_json_chart")[0].proto.json)
    assert len(deck["layers"][0]["data"]["features"]) == 9


def test_outside_coverage(app):
    at = app(PAGE, niveau="commune", code="75056")
    assert not at.exception
    assert not at.metric
    message = " ".join(i.value for i in at.info)
    assert "non couvert" in message and "Bordeaux" in message and "Lyon" in message
    assert "décembre 2021" in message and "mars 2024" in message
    assert any("Sources" in e.label for e in at.expander)  # the shared footer still shows


def test_choose_period_and_status(data_dir, territoires):
    detail = pl.read_parquet(data_dir / "locations" / "territoires.parquet")
    assert loc.choose_period("2021-12", ["2021-12", "2024-03"]) == ("2021-12", None)
    period, msg = loc.choose_period("2099-01", ["2021-12", "2024-03"])
    assert period == "2024-03" and "mars 2024" in msg
    status = {code: loc.status(Territory(niveau, code, ""), detail, territoires)
              for niveau, code in (("commune", "33063"), ("departement", "33"), ("commune", "75056"))}
    assert status == {"33063": loc.COVERED, "33": loc.PARTIAL, "75056": loc.NOT_COVERED}


def test_listing_map_payload_stays_small(data_dir, territoires):
    from dashboard import maps

    points = pl.read_parquet(data_dir / "locations" / "annonces.parquet")
    bm = loc.listings_of(points, Territory("epci", "243300316", "Bordeaux Métropole"), territoires, "2024-03")
    assert bm.height == 12_030
    deck = loc.points_deck(bm)
    assert maps.payload_bytes(deck) < 2_000_000  # 4 MB with pydeck's indented JSON and long keys
    assert json.loads(deck.to_json())["layers"][0]["data"][0].keys() == {"n", "t", "p", "r", "x", "y"}


def test_csv_extract_is_french_excel_and_attributed():
    df = pl.DataFrame({"Annonce": ["=HYPERLINK(1)", "Joli T2"], "Prix par nuit (€)": [83.5, 1234.0]})
    text = loc.csv_bytes(df).decode("utf-8")
    assert text.startswith("\ufeffAnnonce;Prix par nuit (€);Source")
    assert "'=HYPERLINK(1);83,50;Inside Airbnb, CC BY 4.0" in text
    assert "Joli T2;1234;Inside Airbnb, CC BY 4.0" in text


# -- a listing named like HTML -------------------------------------------------------------------------
@pytest.fixture
def xss_data(fresh_dir, monkeypatch):
    """The committed marts, with one real Ambès listing renamed `<img src=x onerror=alert(1)>` and moved
    to the centre of the listings' box (where the map centres its view)."""
    path = fresh_dir / "locations" / "annonces.parquet"
    points = pl.read_parquet(path)
    mine = (pl.col("code_commune") == "33004") & (pl.col("instantane") == "2024-03")
    amb = points.filter(mine)
    target = amb["id"][0]
    lon = (amb["longitude"].min() + amb["longitude"].max()) / 2
    lat = (amb["latitude"].min() + amb["latitude"].max()) / 2
    points = points.with_columns(
        nom=pl.when(pl.col("id") == target).then(pl.lit(XSS)).otherwise("nom"),
        longitude=pl.when(pl.col("id") == target).then(pl.lit(lon)).otherwise("longitude"),
        latitude=pl.when(pl.col("id") == target).then(pl.lit(lat)).otherwise("latitude"),
    )
    points.write_parquet(path)
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(fresh_dir))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield fresh_dir
    st.cache_resource.clear()
    st.cache_data.clear()


def test_html_name_is_text_in_tooltip_and_table(app, xss_data):
    at = app(PAGE, niveau="commune", code="33004")
    assert not at.exception
    chart = at.get("deck_gl_json_chart")[0].proto
    deck = json.loads(chart.json)
    records = next(layer["data"] for layer in deck["layers"] if layer["id"] == "annonces")
    # the name travels as data; the tooltip template holds placeholders only (Streamlit escapes what fills them)
    assert XSS in [r["n"] for r in records]
    template = json.loads(chart.tooltip)["html"]
    assert template == "<b>{n}</b><br/>{t} · {p}<br/>Enregistrement : {r}"
    table = next(d.value for d in at.dataframe if "Annonce" in d.value.columns)
    assert XSS in table["Annonce"].tolist()  # a table shows the name as typed, as text


@pytest.mark.browser
def test_no_script_runs_from_a_listing_name(browser, xss_data):
    proc, base = start_server()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/locations-courte-duree?niveau=commune&code=33004&instantane=2024-03")
        wait_for_app(page)
        chart = page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=60_000)
        moves = iter([(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (2, 2), (-2, -2)] * 20)

        def tooltip() -> str:
            """the listing's tooltip, hovering around the middle of the map until it shows"""
            tip = page.query_selector(".deck-tooltip")
            text = tip.inner_text() if tip else ""
            if "img" in text:
                return text
            # the map's place is read at each try: what the page draws above it may still move it down
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            dx, dy = next(moves)
            page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
            return ""

        tooltip_text = wait_until(tooltip, timeout=60, every=0.4)
        assert XSS in tooltip_text  # shown as the text it is (not "&lt;img…", not an image)
        page.locator("#annonces").scroll_into_view_if_needed()
        # the listings table is on screen (the first table shown; others sit in closed expanders)
        page.locator('[data-testid="stDataFrame"]:visible').first.wait_for(timeout=60_000)
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert dialogs == []
        assert not page.query_selector_all('[data-testid="stException"]')
    finally:
        stop_server(proc)
