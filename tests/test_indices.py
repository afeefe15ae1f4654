"""The composite indices on a tiny hand-made set where every rank can be counted by hand."""

from __future__ import annotations

import polars as pl
import pytest

from etl.indices import compute, percentile_ranks, quadrant, quadrant_expr

# four communes, two collaborative components (a, b) and one platform component (p)
VALUES = pl.DataFrame(
    {
        "niveau": ["commune"] * 9,
        "code": ["c1", "c2", "c3", "c4", "c1", "c2", "c3", "c4", "c1"],
        "indice": ["indice_collaboratif"] * 8 + ["indice_plateformes"],
        "composante": ["a", "a", "a", "a", "b", "b", "b", "b", "p"],
        "valeur": [10.0, 20.0, 20.0, 40.0, 3.0, 1.0, 2.0, 5.0, 7.0],
        "nature": ["reel", "reel", "reel", "reel", "simule", "simule", "simule", "estime", "reel"],
    }
)


def ranks_of(df: pl.DataFrame) -> dict[tuple[str, str], float]:
    return {(c, k): r for c, k, r in df.select("code", "composante", "rang").iter_rows()}


def test_percentile_ranks_by_hand():
    r = ranks_of(percentile_ranks(VALUES, min_territories=2))
    # a: 10 < 20 = 20 < 40 -> average ranks 1, 2.5, 2.5, 4 -> (r-1)/(4-1)*100
    assert r[("c1", "a")] == 0.0
    assert r[("c2", "a")] == pytest.approx(50.0)
    assert r[("c3", "a")] == pytest.approx(50.0)
    assert r[("c4", "a")] == 100.0
    # b: c2=1 < c3=2 < c1=3 < c4=5 -> ranks 3, 1, 2, 4
    assert r[("c1", "b")] == pytest.approx(200 / 3)
    assert r[("c2", "b")] == 0.0
    # p: a single territory has it: a rank among nobody is not a rank (it used to be 50)
    assert r[("c1", "p")] is None


def test_a_component_held_by_fewer_than_ten_territories_is_context():
    """Issue #11, point 3: Bordeaux Métropole alone had Airbnb data at EPCI level and got rank 50 on it."""
    ranked = percentile_ranks(VALUES.with_columns(statut=pl.lit("mesure")))
    assert ranked["rang"].is_null().all()  # 4 territories < 10
    assert set(ranked["statut"]) == {"contexte"}
    ten = pl.DataFrame({"niveau": ["epci"] * 10, "code": [f"e{i}" for i in range(10)], "composante": ["a"] * 10,
                        "valeur": [float(i) for i in range(10)]})
    assert percentile_ranks(ten)["rang"].to_list() == pytest.approx([i / 9 * 100 for i in range(10)])
    assert percentile_ranks(ten.head(9))["rang"].is_null().all()


def test_index_is_the_mean_and_carries_the_weakest_nature():
    idx = compute(percentile_ranks(VALUES, min_territories=2))
    got = {(c, i): (v, n, s, nat) for c, i, v, n, s, nat in idx.select(
        "code", "indice", "valeur", "n_composantes", "statut", "nature").iter_rows()}
    assert got[("c1", "indice_collaboratif")] == (pytest.approx((0 + 200 / 3) / 2), 2, "complet", "simule")
    assert got[("c4", "indice_collaboratif")] == (pytest.approx((100 + 100) / 2), 2, "complet", "estime")


def test_a_territory_lacking_a_component_gets_no_number_partial_index():
    """Issue #11, point 5: scored on fewer components it would not compare with the others."""
    partial = VALUES.filter(~((pl.col("code") == "c2") & (pl.col("composante") == "b")))
    idx = compute(percentile_ranks(partial, min_territories=2))
    c2 = idx.filter((pl.col("code") == "c2") & (pl.col("indice") == "indice_collaboratif")).row(0, named=True)
    assert c2["valeur"] is None and c2["statut"] == "partiel"
    assert (c2["n_composantes"], c2["n_requises"], c2["manquantes"]) == (1, 2, ["b"])
    # the others keep their index, all on the same two components
    full = idx.filter((pl.col("indice") == "indice_collaboratif") & (pl.col("statut") == "complet"))
    assert sorted(full["code"]) == ["c1", "c3", "c4"] and set(full["n_composantes"]) == {2}
    # c2 has no platform component at all: no row, never a 0
    assert idx.filter((pl.col("code") == "c2") & (pl.col("indice") == "indice_plateformes")).height == 0


def test_a_platform_index_needs_a_measured_component():
    """Issue #11, point 4: an estimate (from taxi counts) never places a territory on the platform axis."""
    estimated = pl.DataFrame({"niveau": ["commune"] * 3, "code": ["c1", "c2", "c3"],
                              "indice": ["indice_plateformes"] * 3, "composante": ["p"] * 3,
                              "valeur": [1.0, 2.0, 3.0], "nature": ["estime"] * 3})
    idx = compute(percentile_ranks(estimated, min_territories=2))
    assert set(idx["statut"]) == {"sans mesure"} and idx["valeur"].is_null().all()
    measured = compute(percentile_ranks(estimated.with_columns(nature=pl.lit("reel")), min_territories=2))
    assert measured["valeur"].to_list() == [0.0, 50.0, 100.0]


def test_sensitivity_untick_one_component():
    ranks = percentile_ranks(VALUES, min_territories=2)
    idx = compute(ranks, excluded={"b"})
    c1 = idx.filter((pl.col("code") == "c1") & (pl.col("indice") == "indice_collaboratif")).row(0, named=True)
    assert c1["valeur"] == 0.0 and c1["n_composantes"] == 1 and c1["nature"] == "reel"
    weighted = compute(ranks, weights={"a": 1.0, "b": 3.0})
    c1w = weighted.filter((pl.col("code") == "c1") & (pl.col("indice") == "indice_collaboratif"))["valeur"].item()
    assert c1w == pytest.approx((0 * 1 + 200 / 3 * 3) / 4)


def test_quadrants():
    assert quadrant(80, 20) == "collaboratif"
    assert quadrant(20, 80) == "plateformisé"
    assert quadrant(60, 70) == "les deux"
    assert quadrant(10, 10) == "ni l'un ni l'autre"
    assert quadrant(None, 10) is None
    df = pl.DataFrame({"indice_collaboratif": [80.0, 20.0, 60.0, 10.0, None],
                       "indice_plateformes": [20.0, 80.0, 70.0, 10.0, 10.0]})
    assert df.select(quadrant_expr().alias("q"))["q"].to_list() == [
        quadrant(*r) for r in df.iter_rows()]
