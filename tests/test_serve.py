"""Serving many officials at once (issue #13): no per-request Python UDF, safe shared caches, timeouts."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import equilibre
from etl.indices import quadrant


@pytest.fixture(scope="module")
def ranks(data_dir):
    return pl.read_parquet(data_dir / "equilibre" / "rangs.parquet")


def test_native_quadrant_equals_the_scalar_rule_on_every_commune(territoires, ranks):
    """The balance table's quadrant (native expression) is `etl.indices.quadrant` row by row, nulls included."""
    scope = equilibre.Scope("commune", "france", "FR")
    rows = equilibre.table(territoires, ranks, scope)
    expected = [quadrant(c, p) for c, p in rows.select("indice_collaboratif", "indice_plateformes").iter_rows()]
    assert rows["quadrant"].to_list() == expected
    # every quadrant occurs among the communes, and communes without an index have none
    assert set(expected) == {*equilibre.QUADRANTS, None}
    # a value exactly on the threshold counts as high, as in the scalar rule
    edge = pl.DataFrame({"c": [50.0, 49.999, None], "p": [50.0, 50.0, 80.0]})
    assert edge.select(q=equilibre.quadrant_expr("c", "p"))["q"].to_list() == ["les deux", "plateformisé", None]
