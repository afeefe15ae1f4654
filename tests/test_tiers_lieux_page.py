"""Page "Tiers-lieux" (AppTest) and its map builder."""

from __future__ import annotations

import json

import polars as pl
import pytest

from dashboard import tiers_lieux as tl
from dashboard.territory import Territory

PAGE = "dashboard/pages/tiers_lieux.py"


def deck_json(at) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert charts, "no map on the page"
    return json.loads(charts[0].proto.json)


def layer(deck: dict, layer_id: str) -> dict:
    return next(la for la in deck["layers"] if la["id"] == layer_id)


def table_with(at, column: str):
    """The page's table that has `column` (the footer's table of sources is another one)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def bad_link(page: str):
    """The page opened with an unknown commune code in its link (not through the entry page's first run)."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page)
    at.query_params["niveau"] = "commune"
    at.query_params["code"] = "99999"
    return at.run()


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


@pytest.mark.parametrize(("niveau", "code", "count", "rows"), [
    ("commune", "44109", "27 lieux", 27),          # Nantes: a commune with places
    ("commune", "23076", "0 lieu", 0),             # Évaux-les-Bains: a commune without
    ("epci", "243300316", "65 lieux", 65),         # Bordeaux Métropole
    ("departement", "23", "9 lieux", 9),           # Creuse
    ("france", "FR", "1\u202f512 lieux", 1_512),
])
def test_page_for_each_level(app, niveau, code, count, rows):
    at = app(PAGE, niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tiers-lieux recensés"] == count
    assert set(metrics) == {"Tiers-lieux recensés", "Tiers-lieux pour 10 000 habitants",
                            "Population à moins de 10 km d'un tiers-lieu", "Population à moins de 20 km d'un tiers-lieu"}
    body = texts(at)
    assert "2019" in body  # the vintage is shown wherever the places are used
    assert "France : " in body or niveau == "france"
    deck = deck_json(at)
    inside = [p for p in layer(deck, "lieux")["data"] if p["rayon"] == 6]
    assert len(inside) == rows
    coverage = layer(deck, "couverture")["data"]["features"]  # the area within 10 km of a place
    assert len(coverage) == 1 and coverage[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    if rows:
        places = table_with(at, "Site web")
        assert places.shape[0] == rows
        assert list(places.columns) == ["Nom", "Type", "Adresse", "Code postal", "Commune", "Site web"]
    else:
        assert "Aucun tiers-lieu recensé en 2019" in body
        assert not any("Site web" in d.value.columns for d in at.dataframe)
    far = table_with(at, "Tiers-lieu le plus proche")
    assert far.shape[0] == (1 if niveau == "commune" else 10)


def test_figures_of_nantes_match_the_marts(app, data_dir):
    ind = pl.read_parquet(data_dir / "indicateurs" / "tiers_lieux.parquet").filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "44109"))
    rate = ind.filter(pl.col("indicateur") == "tiers_lieux_pour_10000_hab")["valeur"].item()
    at = app(PAGE, niveau="commune", code="44109")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tiers-lieux pour 10 000 habitants"] == f"{rate:.2f}".replace(".", ",")
    assert metrics["Population à moins de 10 km d'un tiers-lieu"] == "100,0\u202f%"
    names = set(table_with(at, "Nom")["Nom"])
    assert {"ADE Coworking", "La Chapelle Coworking"} <= names


def test_commune_without_place_shows_the_nearest(app):
    at = app(PAGE, niveau="commune", code="23076")
    df = table_with(at, "Tiers-lieu le plus proche")
    assert df["Commune"].tolist() == ["Évaux-les-Bains"]
    assert df["Tiers-lieu le plus proche"].tolist() == ["La Boutique"] and df["Sa commune"].tolist() == ["Boussac"]


def test_unknown_code_falls_back_to_france_without_traceback():
    at = bad_link(PAGE)
    assert not at.exception
    assert any("introuvable" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Tiers-lieux recensés"] == "1\u202f512 lieux"


def test_tooltip_text_travels_as_data(territoires):
    place = pl.DataFrame({
        "identifiant": ["x-1"], "nom": ['<img src=x onerror="alert(1)">'], "type": ["fablab"],
        "adresse": ["1 rue <b>du</b> Port"], "code_postal": ["33000"], "commune_adresse": ["Bordeaux"],
        "site_web": ["https://example.org/?a=1&b=<2>"], "longitude": [-0.57], "latitude": [44.84],
        "code_commune": ["33063"],
    })
    deck = tl.place_map([], place, {"x-1"}, territoires)
    spec = json.loads(deck.to_json())
    record = layer(spec, "lieux")["data"][0]
    # raw text as data; the template is fixed text and placeholders, which Streamlit fills escaped
    # (tests/test_browser_shell.py checks in Chromium that such a name shows as text)
    assert record["nom"] == '<img src=x onerror="alert(1)">'
    assert record["site"] == "https://example.org/?a=1&b=<2>"
    assert deck._tooltip["html"] == "<b>{nom}</b><br/>{type}<br/>{adresse}<br/>{site}"


def test_places_of_each_level(data_dir):
    lieux = pl.read_parquet(data_dir / "tiers_lieux" / "lieux.parquet")
    assert tl.places_of(lieux, Territory("arrondissement", "75111", "Paris 11e")).height == 29
    assert tl.places_of(lieux, Territory("region", "75", "Nouvelle-Aquitaine")).height == 225
    assert tl.type_counts(tl.places_of(lieux, Territory("departement", "23", "Creuse"))) == {
        "coworking": 8, "fablab": 1, "inconnu": 0}


def test_coverage_area_on_a_hand_made_case():
    """Two places 5 km apart at 45°N: one area; points 9 km east are in it, 11 km east are not."""
    import shapely

    from etl.geo import haversine_km

    deg_lon = 1 / haversine_km(0.0, 45.0, 1.0, 45.0)  # degrees of longitude per km at 45°N
    places = pl.DataFrame({"longitude": [0.0, 5 * deg_lon], "latitude": [45.0, 45.0]})
    area = shapely.from_geojson(json.dumps(tl.coverage_area(places)))
    assert area.geom_type == "Polygon"  # the two discs merge
    assert area.contains(shapely.Point(5 * deg_lon + 9 * deg_lon, 45.0))
    assert not area.contains(shapely.Point(5 * deg_lon + 11 * deg_lon, 45.0))
    assert not area.contains(shapely.Point(0.0, 45.0 + 11 / 111.2))
    assert tl.coverage_area(places.head(0)) is None
