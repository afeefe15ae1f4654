"""Carpool places (BNLC), incentive campaigns and real 2024 totals: parsers and marts on the mirror."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.marts.base import BuildContext
from etl.sources.base import FetchContext, fetch
from etl.sources.incitations_covoiturage import normalise_operator, operators


@pytest.fixture(scope="module")
def parsed(mirror, parsed_contours):
    ctx = FetchContext(mirror=mirror, raw_dir=Path("/nonexistent"), progress=False)
    names = ["bnlc", "cog_passage", "incitations_covoiturage", "mobilites_durables"]
    return {"contours": parsed_contours} | {n: fetch(registry.sources()[n], ctx)[0] for n in names}


def build(mart: str, parsed, data_dir):
    m = registry.marts()[mart]
    return m.build(BuildContext(out_dir=data_dir, progress=False), {s: parsed[s] for s in m.sources})


def value(rows: pl.DataFrame, niveau: str, code: str, indicator: str) -> float | None:
    hit = rows.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicator))
    return hit["valeur"].item() if hit.height else None


# -- BNLC ---------------------------------------------------------------------------------------
def test_bnlc_parse(parsed):
    places = parsed["bnlc"].frame
    assert places.height == 2_473 and parsed["bnlc"].rows_read == 2_473
    assert places["places"].null_count() == 870  # empty capacities are unknown, not 0
    assert places["places"].sum() == 43_202
    assert places.filter(pl.col("id_lieu") == "01024-C-002").select("places", "places_pmr", "type").row(0) == (
        24, 2, "Aire de covoiturage")


@pytest.fixture(scope="module")
def aires(parsed, data_dir):
    return build("aires_covoiturage", parsed, data_dir)


def test_places_land_in_todays_commune(aires, parsed, territoires):
    table = aires.tables["covoiturage/aires.parquet"]
    assert table.height == 2_473
    current = territoires.filter(pl.col("niveau") == "commune")["code"]
    assert table["code_commune"].is_in(current.implode()).all()
    passage = parsed["cog_passage"].frame
    former = table.join(passage, left_on="code_insee_declare", right_on="code_ancien")
    assert former.height == 38  # rows stating a former commune code
    # all but one land in the commune that holds the former commune today; the last one, by its
    # coordinates, lies in the neighbouring commune (flagged)
    assert former.filter(pl.col("code_commune") == pl.col("code_actuel")).height == 37
    assert former.filter(pl.col("code_commune") != pl.col("code_actuel"))["ecart_code"].all()
    # Orée-d'Anjou (former code 49069) has no polygon yet: its places keep their code, brought to 49126
    assert table.filter(pl.col("code_insee_declare") == "49069")["code_commune"].unique().to_list() == ["49126"]
    # postal codes given as INSEE codes (03330 is Bellenaves' postal code): placed by coordinates
    assert table.filter(pl.col("id_lieu") == "03330-C-001")["code_commune"].item() == "03022"
    assert table["ecart_code"].sum() == 155
    assert any("155 dont le code déclaré" in n for n in aires.notes)


def test_places_indicators(aires):
    rows = aires.indicateurs
    assert value(rows, "france", "FR", "covoit_aires") == 2_473
    assert value(rows, "france", "FR", "covoit_places_aires") == 43_202
    assert value(rows, "france", "FR", "covoit_aires_capacite_inconnue") == 870
    assert value(rows, "france", "FR", "covoit_places_aires_pour_10000_hab") == pytest.approx(
        43_202 / 68_350_798 * 10_000)
    assert rows["periode"].unique().to_list() == ["2026"]
    # a commune whose places all have an unknown capacity: places counted, capacity "pas de donnée"
    assert value(rows, "commune", "02163", "covoit_aires") == 1
    assert value(rows, "commune", "02163", "covoit_places_aires") is None
    # Lyon 2e: places located in the arrondissement polygon
    assert value(rows, "arrondissement", "69382", "covoit_aires") == 3
    # a commune without any place has no row (the base is not exhaustive)
    assert value(rows, "commune", "01001", "covoit_aires") is None


# -- campaigns ----------------------------------------------------------------------------------
def test_operator_names_are_normalised(parsed):
    assert normalise_operator("BlablaCarDaily") == normalise_operator("BlaBlaCar Daily") == "BlaBlaCar Daily"
    assert operators("Karos, BlablaCarDaily, Klaxit, Mobicoop") == ["BlaBlaCar Daily", "Karos", "Klaxit", "Mobicoop"]
    campaigns = parsed["incitations_covoiturage"].frame
    assert campaigns.height == 111
    seen = sorted({o for ops in campaigns["operateurs"].to_list() for o in ops})
    assert seen == ["BlaBlaCar Daily", "Karos", "Klaxit", "Mobicoop"]


def test_campaign_indicators(parsed, data_dir, territoires):
    result = build("incitations_covoiturage", parsed, data_dir)
    rows = result.indicateurs
    assert value(rows, "epci", "200070746", "covoit_campagne_incitation") == 1  # CA Sarreguemines Confluences
    assert value(rows, "epci", "243300316", "covoit_campagne_incitation") == 0  # Bordeaux Métropole: none listed
    # communes inherit their EPCI's value
    sarreguemines = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_epci") == "200070746"))
    assert all(value(rows, "commune", c, "covoit_campagne_incitation") == 1 for c in sarreguemines["code"])
    assert rows.filter((pl.col("indicateur") == "covoit_campagne_incitation") & (pl.col("niveau") == "epci")).height == 1_255
    assert rows.filter((pl.col("indicateur") == "covoit_campagne_incitation") & (pl.col("niveau") == "epci")
                       )["valeur"].sum() == 111
    # département, région, France: covered population share, and 1 when any commune is covered
    communes = territoires.filter(pl.col("niveau") == "commune").with_columns(
        c=pl.col("code_epci").is_in(result.tables["covoiturage/campagnes.parquet"]["code_siren"].implode()))
    moselle = communes.filter(pl.col("code_departement") == "57")
    share = moselle.filter("c")["population"].sum() / moselle["population"].sum() * 100
    assert value(rows, "departement", "57", "covoit_part_pop_campagne") == pytest.approx(share)
    assert value(rows, "departement", "57", "covoit_campagne_incitation") == 1
    assert value(rows, "france", "FR", "covoit_part_pop_campagne") == pytest.approx(
        communes.filter("c")["population"].sum() / communes["population"].sum() * 100)


# -- real 2024 totals ---------------------------------------------------------------------------
def test_real_2024_totals(parsed, data_dir):
    totals = parsed["mobilites_durables"].frame
    assert totals.height == 1_236
    assert totals.filter(pl.col("niveau") == "commune")["code"].sort().to_list() == ["22016", "29083", "29155", "85113"]
    rows = build("covoiturage_annuel", parsed, data_dir).indicateurs
    bm = rows.filter((pl.col("code") == "243300316") & (pl.col("indicateur") == "covoit_trajets")).row(0, named=True)
    assert (bm["valeur"], bm["periode"], bm["nature"], bm["source"], bm["niveau"]) == (
        68_886, "2024", "reel", "mobilites_durables", "epci")
    assert rows.filter(pl.col("indicateur") == "covoit_trajets")["valeur"].sum() == 11_523_696
