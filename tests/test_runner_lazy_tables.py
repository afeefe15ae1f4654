"""Tables given as functions or lazy frames (`etl.marts.base.Table`): the runner computes, writes and
lets go of each before the next, and a table that fails leaves every previous file as it was.

Run through `etl.runner.run` on a copy of the marts, rebuilding `covoiturage_annuel` from the
mirror's file of the ministry's dashboard, with its build wrapped to give its tables lazily.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.marts.base import MartResult
from etl.runner import run

MOBILITES = "mobilites-durables/nb-trajets-covoiturage_2024_export.csv"
EXTRA = "covoiturage/annuel_brut.parquet"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def mirror_rows(mirror: Path) -> pl.DataFrame:
    return pl.read_csv(mirror / MOBILITES, infer_schema=False)


@pytest.fixture
def lazy_mart(monkeypatch, mirror):
    """`covoiturage_annuel` giving its indicator rows as a function and an extra table as a lazy
    scan of the mirror's file; `calls` records the order in which the runner computed them."""
    mart = registry.marts()["covoiturage_annuel"]
    real = type(mart).build
    calls: list[str] = []
    state = {"fail": False}

    def build(self, ctx, parsed) -> MartResult:
        result = real(self, ctx, parsed)
        indicateurs = result.indicateurs

        def later() -> pl.DataFrame:
            calls.append("indicateurs")
            if state["fail"]:
                raise RuntimeError("table en échec (test)")
            return indicateurs

        def scanned() -> pl.DataFrame:
            calls.append("extra")
            scan = pl.scan_csv(mirror / MOBILITES, infer_schema=False)
            # in the failing run, a different table: written first, it must not replace the previous one
            return (scan.head(100) if state["fail"] else scan).collect()

        return MartResult(tables={EXTRA: scanned}, indicateurs=later, rejected=result.rejected, notes=result.notes)

    monkeypatch.setattr(type(mart), "build", build)
    return calls, state


def test_lazy_tables_are_written_one_after_the_other(lazy_mart, fresh_dir, mirror):
    calls, _ = lazy_mart
    report = run(["mobilites_durables"], out_dir=fresh_dir, mirror=mirror, progress=False)
    assert report.ok, report.errors()
    assert calls == ["extra", "indicateurs"]  # the tables first, the indicator rows last
    extra = pl.read_parquet(fresh_dir / EXTRA)
    assert extra.equals(mirror_rows(mirror))  # 1,236 EPCI rows of the file, as read
    ind = pl.read_parquet(fresh_dir / "indicateurs" / "covoiturage_annuel.parquet")
    bordeaux = ind.filter((pl.col("code") == "243300316") & (pl.col("indicateur") == "covoit_trajets"))
    assert bordeaux["valeur"].to_list() == [68886.0]  # the file's first line
    files = json.loads((fresh_dir / "manifest.json").read_text())["marts"]["covoiturage_annuel"]["fichiers"]
    assert files[EXTRA]["lignes"] == mirror_rows(mirror).height == 1236
    assert files[EXTRA]["sha256"] == hashlib.sha256((fresh_dir / EXTRA).read_bytes()).hexdigest()
    assert files["indicateurs/covoiturage_annuel.parquet"]["lignes"] == ind.height
    assert not [p for p in fresh_dir.rglob("*") if ".etl-" in p.name]  # no temporary left


def test_a_failing_table_leaves_the_folder_as_it_was(lazy_mart, fresh_dir, mirror):
    calls, state = lazy_mart
    run(["mobilites_durables"], out_dir=fresh_dir, mirror=mirror, progress=False)  # the extra table exists
    before = snapshot(fresh_dir)
    manifest_before = json.loads((fresh_dir / "manifest.json").read_text())
    # the extra table is computed and written to a temporary, then the indicator rows fail
    (mirror_rows(mirror).head(3)).write_parquet(fresh_dir / "leurre.parquet")  # not ours: untouched
    state["fail"] = True
    calls.clear()
    report = run(["mobilites_durables"], out_dir=fresh_dir, mirror=mirror, progress=False)
    assert calls == ["extra", "indicateurs"]
    mart = next(m for m in report.marts if m.name == "covoiturage_annuel")
    assert mart.status == "erreur" and "table en échec (test)" in mart.error
    after = snapshot(fresh_dir)
    assert after.pop("leurre.parquet")
    for rel in (EXTRA, "indicateurs/covoiturage_annuel.parquet"):
        assert after[rel] == before[rel], rel
    assert set(after) == set(before)  # no new file, no temporary left
    manifest_after = json.loads(after["manifest.json"])
    assert manifest_after["marts"]["covoiturage_annuel"] == manifest_before["marts"]["covoiturage_annuel"]
