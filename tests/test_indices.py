"""The composite indices on a tiny hand-made set where every rank can be counted by hand."""

from __future__ import annotations

import polars as pl
import pytest

from etl.indices import compute, percentile_ranks, quadrant

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
    r = ranks_of(percentile_ranks(VALUES))
    # a: 10 < 20 = 20 < 40 -> average ranks 1, 2.5, 2.5, 4 -> (r-1)/(4-1)*100
    assert r[("c1", "a")] == 0.0
    assert r[("c2", "a")] == pytest.approx(50.0)
    assert r[("c3", "a")] == pytest.approx(50.0)
    assert r[("c4", "a")] == 100.0
    # b: c2=1 < c3=2 < c1=3 < c4=5 -> ranks 3, 1, 2, 4
    assert r[("c1", "b")] == pytest.approx(200 / 3)
    assert r[("c2", "b")] == 0.0
    # p: a single value scores 50
    assert r[("c1", "p")] == 50.0


def test_index_is_the_mean_and_carries_the_weakest_nature():
    idx = compute(percentile_ranks(VALUES))
    got = {(c, i): (v, n, nat) for c, i, v, n, nat in idx.select("code", "indice", "valeur", "n_composantes",
                                                                     "nature").iter_rows()}
    assert got[("c1", "indice_collaboratif")] == (pytest.approx((0 + 200 / 3) / 2), 2, "simule")
    assert got[("c4", "indice_collaboratif")] == (pytest.approx((100 + 100) / 2), 2, "estime")
    assert got[("c1", "indice_plateformes")] == (50.0, 1, "reel")


def test_missing_component_is_left_out_not_zeroed():
    partial = VALUES.filter(~((pl.col("code") == "c2") & (pl.col("composante") == "b")))
    idx = compute(percentile_ranks(partial))
    c2 = idx.filter((pl.col("code") == "c2") & (pl.col("indice") == "indice_collaboratif")).row(0, named=True)
    # c2 keeps only component a (rank 50 among 4): the index is 50 over 1 component, not (50 + 0) / 2
    assert c2["valeur"] == pytest.approx(50.0)
    assert c2["n_composantes"] == 1
    assert c2["nature"] == "reel"
    # c2 has no platform component at all: no index row, never a 0
    assert idx.filter((pl.col("code") == "c2") & (pl.col("indice") == "indice_plateformes")).height == 0


def test_sensitivity_untick_one_component():
    ranks = percentile_ranks(VALUES)
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
