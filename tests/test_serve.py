"""Serving many officials at once (issue #13): no per-request Python UDF, safe shared caches, timeouts."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import equilibre
from etl.indices import quadrant


@pytest.fixture(scope="module")
def ranks(data_dir):
    return pl.read_parquet(data_dir / "equilibre" / "rangs.parquet")


def test_native_quadrant_equals_the_scalar_rule_on_every_commune(territoires, ranks, data_dir):
    """The balance table's quadrant (native expression) is `etl.indices.quadrant` row by row, nulls included."""
    scope = equilibre.Scope("commune", "france", "FR")
    stored = pl.read_parquet(data_dir / "equilibre" / "indices.parquet")
    rows = equilibre.table(territoires, equilibre.indices(stored, ranks, "commune"), ranks, scope)
    expected = [quadrant(c, p) for c, p in rows.select("indice_collaboratif", "indice_plateformes").iter_rows()]
    assert rows["quadrant"].to_list() == expected
    # communes with both indices get a quadrant, the others (most of them offline) none
    assert None in expected and len(set(expected) - {None}) >= 2
    assert set(expected) <= {*equilibre.QUADRANTS, None}
    # a value exactly on the threshold counts as high, as in the scalar rule
    edge = pl.DataFrame({"c": [50.0, 49.999, None], "p": [50.0, 50.0, 80.0]})
    assert edge.select(q=equilibre.quadrant_expr("c", "p"))["q"].to_list() == ["les deux", "plateformisé", None]


# -- bounded work (dashboard.guard) ----------------------------------------------------------------
def test_stalled_work_ends_with_a_french_message_and_is_listed(territoires):
    import threading

    from dashboard import guard

    release = threading.Event()
    with pytest.raises(guard.Stalled) as err:
        guard.call(release.wait, what="la préparation de l'extrait", timeout=0.3)
    text = str(err.value)
    assert text.startswith("La préparation de l'extrait n'a pas abouti en 0,3 secondes : le serveur est très sollicité")
    assert "/" not in text and "Traceback" not in text  # no server path, no stack for the user
    assert [w for w, _ in guard.stalled()] == ["la préparation de l'extrait"]
    release.set()
    for _ in range(50):  # the worker finishes by itself and leaves the list
        if not guard.stalled():
            break
        threading.Event().wait(0.05)
    assert guard.stalled() == []
    # a result and an exception come back from the worker unchanged
    communes = guard.call(lambda df: df.filter(pl.col("niveau") == "commune").height, territoires, timeout=30)
    assert communes == territoires["niveau"].value_counts().filter(pl.col("niveau") == "commune")["count"][0]
    with pytest.raises(KeyError):
        guard.call({}.__getitem__, "absent", timeout=30)


# -- data version: a refresh swaps a symlink, the loaders follow without a restart ----------------------
def _switch(link, target) -> None:
    """What the refresh does: a new symlink renamed over the old one (atomic)."""
    import os

    tmp = link.with_name(".current.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.name)
    os.replace(tmp, link)


def test_loaders_follow_the_current_symlink_without_restart(fresh_dir, monkeypatch):
    import shutil

    from dashboard import data

    root = fresh_dir.parent
    a = fresh_dir.rename(root / "data-a")
    b = root / "data-b"
    shutil.copytree(a, b)
    full = pl.read_parquet(a / "territoires.parquet")
    in_corsica = pl.col("code_departement").is_in(["2A", "2B"]).fill_null(False)  # France, régions: null
    corse = full.filter(in_corsica)
    assert corse.height > 300  # the communes of Corsica and their parents
    full.filter(~in_corsica).write_parquet(b / "territoires.parquet")
    (b / "manifest.json").write_text((a / "manifest.json").read_text())

    link = root / "current"
    _switch(link, a)
    monkeypatch.setenv("OBSERVATOIRE_DATA", str(link))
    v1 = data.version()
    assert data.folder() == a.resolve()
    assert data.territoires().height == full.height
    before = data.territoires()
    _switch(link, b)
    assert data.version() != v1 and data.folder() == b.resolve()
    assert data.territoires().height == full.height - corse.height
    assert data.territoires() is not before  # a new frame, not the cached one of `a`
    # the derived caches follow too: the search index of the new version has no Ajaccio
    from dashboard import layout
    from dashboard.territory import search

    hits = search(layout._search_index(data.version()), data.codes_postaux(), "ajaccio")
    assert hits.filter(pl.col("niveau") == "commune").height == 0
    _switch(link, a)
    assert search(layout._search_index(data.version()), data.codes_postaux(), "ajaccio").height > 0


# -- the French error page -------------------------------------------------------------------------
def test_unexpected_error_shows_a_french_sentence_without_server_path(tmp_path, monkeypatch):
    """An error no code expects (here the header fails with a path in its message): the user reads
    French and a reference, no path. (A data folder without marts is an expected error since issue
    #15: its message names the dataset, tests/test_damaged_data.py.)"""
    from dashboard import layout
    from tests.conftest import run_app

    def broken(*args, **kwargs):
        raise OSError(f"lecture impossible : {tmp_path}/territoires.parquet")

    monkeypatch.setattr(layout, "header", broken)
    at = run_app(timeout=60)
    assert at.exception, "under AppTest the error is raised again, for the tests"
    texts = [e.value for e in at.error]
    assert len(texts) == 1 and texts[0].startswith("Une erreur inattendue empêche d'afficher cette page (référence ")
    assert str(tmp_path) not in texts[0] and "/" not in texts[0] and "Error" not in texts[0]


def test_no_python_udf_in_the_dashboard():
    """What pages run per request stays native: no Python callback on polars' thread pool (issue #13)."""
    import re

    from etl.config import ROOT

    udf = re.compile(r"\.(map_elements|map_batches|map_rows|map_groups|apply)\(|\bpl\.map_(batches|groups)\(")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in [ROOT / "app.py", *sorted((ROOT / "dashboard").rglob("*.py"))]
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if udf.search(line)]
    assert found == []
    # the pattern does catch the UDF the balance table had
    assert udf.search('pl.struct("a", "b").map_elements(lambda s: s, return_dtype=pl.String)')
