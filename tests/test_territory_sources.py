"""Parsers of the territory reference, on the real mirror files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.sources.base import FetchContext, SourceError, fetch


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


def test_contours(mirror):
    parsed, _ = fetch(registry.sources()["contours"], FetchContext(mirror=mirror, raw_dir=Path("/x"), progress=False))
    assert parsed.tables["communes"].height == 34_912
    assert parsed.tables["epci"].height == 1_255
    assert parsed.tables["communes"].filter(pl.col("type") == "arrondissement-municipal").height == 45


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
