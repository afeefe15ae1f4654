"""Parsers of the territory reference, on the real mirror files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.sources.base import FetchContext, SourceError


def test_communes(parsed_reference):
    communes = parsed_reference["communes"].frame
    assert communes.height == 34_875
    assert communes.schema["code"] == pl.String
    paris = communes.filter(pl.col("code") == "75056").row(0, named=True)
    assert paris["nom"] == "Paris"
    assert paris["population"] == 2_103_778
    assert "75116" in paris["codes_postaux"]
    # codes keep their leading zeros and Corsica's letters
    assert communes.filter(pl.col("code") == "01001")["nom"].item() == "L'Abergement-Clémenciat"
    assert communes.filter(pl.col("code").str.starts_with("2A")).height > 100
    assert communes.filter(pl.col("code") == "97101")["nom"].item() == "Les Abymes"
    # four island communes belong to no EPCI
    assert sorted(communes.filter(pl.col("code_epci").is_null())["code"]) == ["22016", "29083", "29155", "85113"]


def test_other_levels(parsed_reference):
    assert parsed_reference["epci"].frame.height == 1_255
    assert parsed_reference["departements"].frame.height == 101
    assert parsed_reference["regions"].frame.height == 18
    arr = parsed_reference["arrondissements"].frame
    assert arr.height == 45
    assert sorted(arr["code_commune"].unique()) == ["13055", "69123", "75056"]
    assert parsed_reference["epci"].frame.filter(pl.col("code") == "243300316")["nom"].item() == "Bordeaux Métropole"


def test_housing_and_passage(parsed_reference):
    housing = parsed_reference["insee_logement"].frame
    assert housing.height == 34_955
    assert housing.filter(pl.col("code") == "33063")["logements"].item() == 165_094
    passage = parsed_reference["cog_passage"].frame
    assert passage.height == 4_240
    assert passage.filter(pl.col("code_ancien") == "01003")["code_actuel"].item() == "01165"


def test_contours(parsed_contours):
    parsed = parsed_contours
    assert parsed.tables["communes"].height == 34_912
    assert parsed.tables["epci"].height == 1_255
    assert parsed.tables["communes"].filter(pl.col("niveau") == "arrondissement").height == 45


def test_movements_format_is_read(tmp_path):
    """INSEE's movements file (the live format) gives the same kind of table as the mirror."""
    mvt = tmp_path / "v_mvt_commune_2026.csv"
    mvt.write_text(
        "MOD,DATE_EFF,TYPECOM_AV,COM_AV,TNCC_AV,NCC_AV,NCCENR_AV,LIBELLE_AV,TYPECOM_AP,COM_AP,TNCC_AP,NCC_AP,NCCENR_AP,LIBELLE_AP\n"
        # 01003 merged into 01165 in 2016: one line for the absorbed, one for the chief town
        "32,2016-01-01,COM,01003,1,AMAREINS,Amareins,Amareins,COM,01165,0,FRANCHELEINS,Francheleins,Francheleins\n"
        "32,2016-01-01,COM,01165,0,FRANCHELEINS,Francheleins,Francheleins,COM,01165,0,FRANCHELEINS,Francheleins,Francheleins\n"
        "32,2016-01-01,COM,01003,1,AMAREINS,Amareins,Amareins,COMD,01003,1,AMAREINS,Amareins,Amareins\n"
        # a chain: 99001 -> 99002 (2017), then 99002 -> 99003 (2019)
        "31,2017-01-01,COM,99001,0,A,A,A,COM,99002,0,B,B,B\n"
        "31,2019-01-01,COM,99002,0,B,B,B,COM,99003,0,C,C,C\n"
        # 15141 split again in 2025: 15031 re-created, so it is not a former code any more
        "32,2016-01-01,COM,15031,0,CELLES,Celles,Celles,COM,15141,0,N,N,N\n"
        "21,2025-01-01,COM,15141,0,N,N,N,COM,15031,0,CELLES,Celles,Celles\n",
        encoding="utf-8",
    )
    src = registry.sources()["cog_passage"]
    parsed = src.parse({"main": mvt}, FetchContext(mirror=None, raw_dir=tmp_path))
    table = dict(parsed.frame.iter_rows())
    assert table == {"01003": "01165", "99001": "99003", "99002": "99003"}


def test_missing_field_is_named(tmp_path):
    bad = tmp_path / "communes.json"
    bad.write_text('[{"nom": "X", "code": "01001"}]', encoding="utf-8")
    with pytest.raises(SourceError, match="communes.*codeDepartement"):
        registry.sources()["communes"].parse({"main": bad}, FetchContext(mirror=None, raw_dir=tmp_path))


def test_malformed_rows_are_counted(tmp_path):
    f = tmp_path / "communes.json"
    f.write_text(
        '[{"nom": "A", "code": "01001", "codesPostaux": [], "codeDepartement": "01", "codeRegion": "84", "population": 1},'
        ' {"nom": "B", "code": "1001", "codesPostaux": [], "codeDepartement": "01", "codeRegion": "84", "population": 1},'
        ' {"nom": "", "code": "01002", "codesPostaux": [], "codeDepartement": "01", "codeRegion": "84", "population": 1}]',
        encoding="utf-8",
    )
    parsed = registry.sources()["communes"].parse({"main": f}, FetchContext(mirror=None, raw_dir=tmp_path))
    assert parsed.frame["code"].to_list() == ["01001"]
    assert parsed.rows_read == 3
    assert dict(parsed.rejected) == {"code absent ou mal formé": 1, "nom absent": 1}


def _write_geojson(path: Path, features: list[dict]) -> Path:
    """A plain GeoJSON file (the reader takes it gzipped or not: gzip at level 9 of the whole
    communes file alone took seconds)."""
    import json

    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_contours_without_arrondissement_parent_fail_naming_the_field(mirror, tmp_path):
    """The live communes file marks arrondissements only by `commune` (no `type`): if that
    property vanished, the parser must stop and say so, not place every point in nothing."""
    import gzip
    import json

    src = registry.sources()["contours"]
    files = {lv: mirror / f"contours-administratifs/{lv}-simplifie.geojson.gz"
             for lv in ("communes", "epci", "departements", "regions")}
    doc = json.loads(gzip.decompress(files["communes"].read_bytes()))
    for f in doc["features"]:
        f["properties"].pop("commune", None)
    files["communes"] = _write_geojson(tmp_path / "communes.geojson", doc["features"])
    with pytest.raises(SourceError, match=r"contours/communes.*« commune »"):
        src.parse(files, FetchContext(mirror=None, raw_dir=tmp_path))

    # a level without its `nom` is named too
    files = {lv: mirror / f"contours-administratifs/{lv}-simplifie.geojson.gz"
             for lv in ("communes", "epci", "departements", "regions")}
    doc = json.loads(gzip.decompress(files["epci"].read_bytes()))
    for f in doc["features"]:
        f["properties"].pop("nom")
    files["epci"] = _write_geojson(tmp_path / "epci.geojson", doc["features"])
    with pytest.raises(SourceError, match=r"contours/epci.*nom"):
        src.parse(files, FetchContext(mirror=None, raw_dir=tmp_path))


def test_geo_api_live_shapes(parsed_reference, mirror):
    """`codeParent` (arrondissements) and `type` (EPCI) are what the live API serves."""
    import json

    arr = json.loads((mirror / "geo-api-gouv/arrondissements-municipaux.json").read_text(encoding="utf-8"))
    expected = {a["code"]: a["codeParent"] for a in arr}
    got = dict(parsed_reference["arrondissements"].frame.select("code", "code_commune").iter_rows())
    assert got == expected and got["69381"] == "69123"
    epcis = json.loads((mirror / "geo-api-gouv/epcis.json").read_text(encoding="utf-8"))
    types = parsed_reference["epci"].frame.group_by("type").len()
    assert dict(types.iter_rows()) == {t: sum(e["type"] == t for e in epcis) for t in {e["type"] for e in epcis}}
    assert "zone=metro,drom" in registry.sources()["communes"].resources_[0].url


def test_geo_api_old_parent_field_is_refused(tmp_path):
    """A response that names the parent `codeCommune` (never served live) fails naming `codeParent`."""
    f = tmp_path / "arr.json"
    f.write_text('[{"nom": "Lyon 1er", "code": "69381", "codesPostaux": ["69001"], "codeDepartement": "69",'
                 ' "codeRegion": "84", "population": 30000, "codeCommune": "69123"}]', encoding="utf-8")
    with pytest.raises(SourceError, match="arrondissements.*codeParent"):
        registry.sources()["arrondissements"].parse({"main": f}, FetchContext(mirror=None, raw_dir=tmp_path))


def test_point_in_polygon_that_places_nothing_is_an_error():
    import numpy as np
    import shapely

    from etl import geo

    square = shapely.box(0, 0, 1, 1)
    found = geo.locate_points(np.array([0.5, 5.0]), np.array([0.5, 5.0]), np.array([square]), ["A"])
    assert found.tolist() == ["A", None]
    with pytest.raises(geo.NothingPlaced, match="annonces"):
        geo.locate_points(np.array([5.0]), np.array([5.0]), np.array([square]), ["A"], what="annonces")
    with pytest.raises(geo.NothingPlaced, match="aucun contour"):
        geo.locate_points(np.array([0.5]), np.array([0.5]), np.array([], dtype=object), [], what="annonces",
                          require_some=False)
    # arrondissements may legitimately receive none of a set of points
    assert geo.locate_points(np.array([5.0]), np.array([5.0]), np.array([square]), ["A"],
                             require_some=False).tolist() == [None]
