"""Maps frame what matters (issue #12, point 3).

France's map of départements is framed on metropolitan France (the view computed from the
metropolitan polygons), the DROM drawn in insets inside that frame; "pas de donnée" has its own
legend entry, blank, distinct from the lowest class; the quadrant names the selected territory
and the extreme ones without hovering.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from dashboard import equilibre, maps


@pytest.fixture(scope="module")
def departements(data_dir):
    geo = pl.read_parquet(data_dir / "geo" / "departements.parquet")
    return [{"type": "Feature", "properties": {"code": c}, "geometry": json.loads(g)}
            for c, g in geo.select("code", "geometry").iter_rows()]


def drawn(deck) -> dict[str, list[dict]]:
    spec = maps.to_json_dict(deck)
    return {layer["id"]: layer for layer in spec["layers"]}, spec["initialViewState"]


def test_france_is_framed_on_metropolitan_france(departements):
    metro = [f for f in departements if not f["properties"]["code"].startswith("97")]
    overseas = {f["properties"]["code"] for f in departements} - {f["properties"]["code"] for f in metro}
    assert overseas == {"971", "972", "973", "974", "976"}
    deck = maps.choropleth(departements, {}, {}, value_label="Densité", unit="hab./km²")
    layers, view = drawn(deck)
    expected = maps.view_for(maps.bounds(metro))
    assert (view["longitude"], view["latitude"], view["zoom"]) == pytest.approx(
        (expected.longitude, expected.latitude, expected.zoom))
    assert view["zoom"] > 4.4, "France fills the frame (all of the DROM in view would be zoom 1 or 2)"
    # every polygon drawn, the DROM included, lies in metropolitan France's box
    x0, y0, x1, y1 = maps.bounds(metro)
    features = layers["territoires"]["data"]["features"]
    assert {f["properties"]["code"] for f in features} == {f["properties"]["code"] for f in departements}
    lon0, lat0, lon1, lat1 = maps.bounds(features)
    assert x0 - 0.01 <= lon0 and lon1 <= x1 + 0.01 and y0 - 0.01 <= lat0 and lat1 <= y1 + 0.01
    # one named inset per DROM, clear of the metropolitan polygons
    names = [d["nom"] for d in layers["encarts_noms"]["data"]]
    assert names == ["Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"]
    from shapely.geometry import box, shape

    land = [shape(f["geometry"]) for f in metro]
    for path in layers["encarts"]["data"]:
        (a, b), (c, d) = path["path"][0], path["path"][2]
        assert not any(box(a, b, c, d).intersects(p) for p in land), path["nom"]


def test_a_drom_alone_is_framed_on_itself(departements):
    reunion = [f for f in departements if f["properties"]["code"] == "974"]
    layers, view = drawn(maps.choropleth(reunion, {}, {}, value_label="x", unit=""))
    assert "encarts" not in layers
    assert 55 < view["longitude"] < 56 and -21.5 < view["latitude"] < -20.8


def test_no_data_has_its_own_legend_entry(departements):
    codes = [f["properties"]["code"] for f in departements]
    values = {c: float(i) for i, c in enumerate(codes) if not c.startswith("97")}  # the DROM without value
    items = maps.legend(values, "%", 0, codes=codes, missing_label="non couvert")
    colours = dict((label, colour) for colour, label in items)
    blank = colours.pop("non couvert")
    assert blank == maps.hex_colour(maps.NO_DATA_COLOUR)
    assert blank not in colours.values()
    assert blank not in {maps.hex_colour(c) for c in maps.BLUES} | {c for row in equilibre.BIVARIATE for c in row}
    # the values given only as present: the missing ones counted from the codes drawn
    assert any(label == "pas de donnée" for _, label in maps.legend(values, "%", 0, codes=codes))
    assert not any(label == "pas de donnée" for _, label in maps.legend(values, "%", 0))
    # drawn blank, outlined in grey
    layers, _ = drawn(maps.choropleth(departements, values, {}, value_label="x", unit="%"))
    reunion = next(f for f in layers["territoires"]["data"]["features"] if f["properties"]["code"] == "974")
    assert reunion["properties"]["fill"][:3] == maps.NO_DATA_COLOUR
    assert reunion["properties"]["line"] == maps.NO_DATA_LINE


def test_quadrant_names_the_selected_and_the_extreme_territories():
    rows = pl.DataFrame({
        "code": ["a", "b", "c", "d", "e", "f"], "nom": ["Aa", "Bb", "Cc", "Dd", "Ee", "L'Île-d'Yeu"],
        "indice_collaboratif": [10.0, 90.0, 50.0, 40.0, 60.0, 55.0],
        "indice_plateformes": [50.0, 40.0, 95.0, 5.0, 60.0, 45.0],
    })
    fig = equilibre.quadrant_figure(rows, "f")
    texts = [a.text for a in fig.layout.annotations]
    assert "<b>L'Île-d'Yeu</b>" in texts  # the selected one, in bold, its apostrophes as they are
    # highest and lowest of each index: Bb and Aa (collaborative), Cc and Dd (platforms)
    for name in ("Aa", "Bb", "Cc", "Dd"):
        assert name in texts
    assert "Ee" not in texts


def _features(data_dir, level):
    geo = pl.read_parquet(data_dir / "geo" / f"{level}.parquet")
    return [{"type": "Feature", "properties": {"code": c}, "geometry": json.loads(g)}
            for c, g in geo.select("code", "geometry").iter_rows()]


def test_points_of_the_drom_go_to_their_insets(data_dir, territoires):
    """The tiers-lieux and carpooling maps of France: places and arcs of the DROM drawn in the insets."""
    from dashboard import covoiturage as cov
    from dashboard import tiers_lieux as tl

    regions = _features(data_dir, "regions")
    metro_box = maps.bounds([f for f in regions if f["properties"]["code"] >= "11"])
    lieux = pl.read_parquet(data_dir / "tiers_lieux" / "lieux.parquet")
    overseas = lieux.filter(pl.col("code_commune").str.starts_with("97"))
    assert overseas.height > 0  # the 2019 census has places in the DROM
    layers, view = drawn(tl.place_map(regions, lieux, set(), territoires))
    expected = maps.view_for(metro_box)
    assert (view["longitude"], view["zoom"]) == pytest.approx((expected.longitude, expected.zoom))
    x0, y0, x1, y1 = metro_box
    for p in layers["lieux"]["data"]:
        assert x0 - 0.01 <= p["lon"] <= x1 + 0.01 and y0 - 0.01 <= p["lat"] <= y1 + 0.01, p["nom"]
    assert "encarts" in layers
    # carpool places of a DROM on the flow map of France
    aires = pl.read_parquet(data_dir / "covoiturage" / "aires.parquet").filter(pl.col("longitude").is_not_null())
    pairs = pl.DataFrame(schema={"code_1": pl.String, "code_2": pl.String, "passagers": pl.Int64})
    deps = _features(data_dir, "departements")
    layers, view = drawn(cov.flow_deck(pairs, aires, maps.view_for(None), deps))
    lons = [p["position"][0] for p in layers["aires"]["data"]]
    assert min(lons) >= x0 - 0.01 and max(lons) <= x1 + 0.01
