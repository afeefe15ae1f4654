"""Comparables that make sense (issue #12, point 4), chosen once per data version by the ETL.

An arrondissement municipal is compared with arrondissements and dense communes of the
métropoles, not with Issoire; an island commune with island communes, with a note; a territory
without peers gets a sentence, never "sur 0 comparables". The expected peers are found here by
brute force over the reference, independently of the ETL's windowed search.
"""

from __future__ import annotations

import math
import re

import polars as pl
import pytest

from dashboard import compare
from dashboard.territory import resolve
from etl.comparables import K

ISLANDS_WITHOUT_EPCI = {"22016", "29083", "29155", "85113"}  # Bréhat, Sein, Ouessant, Yeu
ISSOIRE = "63178"


@pytest.fixture(scope="module")
def table(data_dir):
    return pl.read_parquet(data_dir / "comparables.parquet")


def peers_of(table, territoires, niveau, code):
    t = resolve(territoires, niveau, code)
    return t, compare.comparables(territoires, t, table=table)


def nearest(pool: pl.DataFrame, population: int, k: int = K) -> list[str]:
    """The k codes of `pool` nearest in |log(1 + population)|, ties by code: by brute force."""
    d = [(abs(math.log1p(p or 0) - math.log1p(population)), c) for c, p in pool.select("code", "population").iter_rows()]
    return [c for _, c in sorted(d)[:k]]


def test_an_arrondissement_among_arrondissements_and_dense_communes_of_metropoles(table, territoires):
    t, peers = peers_of(table, territoires, "arrondissement", "75101")  # Paris 1er, 16,000 inhabitants
    metropoles = territoires.filter((pl.col("niveau") == "epci") & (pl.col("type_epci") == "métropole"))["code"]
    pool = pl.concat([
        territoires.filter((pl.col("niveau") == "arrondissement") & (pl.col("code") != "75101")),
        territoires.filter((pl.col("niveau") == "commune") & pl.col("code_epci").is_in(metropoles.implode())
                           & (pl.col("classe_densite") == "dense") & ~pl.col("insulaire").fill_null(False)
                           & (pl.col("code") != t.code_commune)),
    ], how="diagonal_relaxed")
    me = territoires.filter((pl.col("niveau") == "arrondissement") & (pl.col("code") == "75101"))["population"][0]
    assert peers["code"].to_list() == nearest(pool, me)
    assert ISSOIRE not in peers["code"].to_list()
    # the former rule (same population band and density class, any commune) did pick Issoire
    old_rule = territoires.filter(pl.col("niveau").is_in(["commune", "arrondissement"])
                                  & (pl.col("tranche_population") == "10 000 à 19 999 hab.")
                                  & (pl.col("classe_densite") == "dense"))
    assert ISSOIRE in nearest(old_rule.filter(pl.col("code") != "75101"), me)


def test_lyon_3e_is_not_compared_with_lyon(table, territoires):
    t, peers = peers_of(table, territoires, "arrondissement", "69383")
    assert "69123" not in peers["code"].to_list()
    assert peers.height == K
    assert set(peers["niveau"]) <= {"arrondissement", "commune"}
    summary = compare.peer_summary(t, territoires, table)
    assert "Arrondissements municipaux" in summary and "jamais sa propre ville" in summary


def test_island_communes_are_found_from_the_polygons(territoires):
    islands = set(territoires.filter(pl.col("insulaire").fill_null(False))["code"])
    assert islands >= ISLANDS_WITHOUT_EPCI
    re_island = territoires.filter((pl.col("niveau") == "commune") & pl.col("nom").str.ends_with("-en-Ré"))["code"]
    assert set(re_island) <= islands and len(re_island) >= 3
    assert not islands & {"17300", "29019", "33063", "97105"}  # La Rochelle, Brest, Bordeaux, Basse-Terre


@pytest.mark.parametrize("code", sorted(ISLANDS_WITHOUT_EPCI))
def test_an_island_commune_among_island_communes_with_a_note(table, territoires, code):
    t, peers = peers_of(table, territoires, "commune", code)
    islands = territoires.filter(pl.col("insulaire").fill_null(False) & (pl.col("population") > 0)
                                 & (pl.col("code") != code))
    me = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code") == code))["population"][0]
    assert peers["code"].to_list() == nearest(islands, me)
    summary = compare.peer_summary(t, territoires, table)
    assert "île" in summary and "sans intercommunalité" in summary


def test_a_territory_without_peer_gets_a_sentence(app, table, territoires):
    t, peers = peers_of(table, territoires, "commune", "55039")  # Beaumont-en-Verdunois: no inhabitant
    assert peers.height == 0
    assert compare.peer_summary(t, territoires, table) == "Commune sans habitant : pas de territoire comparable."
    assert compare.peer_count_text(0, t) == "aucun territoire comparable"
    assert compare.peer_count_text(1, t) == "1 commune comparable"
    for page in ("dashboard/pages/mon_territoire.py", "dashboard/pages/equilibre.py"):
        at = app(page, niveau="commune", code="55039")
        assert not at.exception, [e.value for e in at.exception]
        shown = " ".join(str(e.value) for kind in ("markdown", "caption", "info") for e in getattr(at, kind))
        assert not re.search(r"\b0 comparables?\b", shown)
        assert "pas de territoire comparable" in shown


def test_every_territory_has_its_rows(table, territoires):
    """Each territory but France: its peers, or one row saying why none (`methode` never empty)."""
    keys = territoires.filter(pl.col("niveau") != "france").select("niveau", "code")
    assert keys.join(table.select("niveau", "code").unique(), on=["niveau", "code"], how="anti").height == 0
    assert table["methode"].null_count() == 0
    assert table.group_by("niveau", "code").len()["len"].max() == K
