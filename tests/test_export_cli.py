"""`python -m etl export` end to end: a real process, real files, exit codes."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import polars as pl
import pytest

from etl.config import ROOT
from tests.export_helpers import build


def etl(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_xlsx_of_a_departement(tmp_path, territoires):
    res = etl("export", "--niveau", "commune", "--parent", "33", "--indicateurs", "population,logements",
              "--periode", "2023", "--format", "xlsx", "--out", str(tmp_path) + "/")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "extrait_communes_33_population-logements_2023.xlsx"
    assert str(out) in res.stdout and "534 lignes" in res.stdout.replace("\u202f", " ")
    assert "sans donnée pour cette sélection : logements" in res.stderr  # housing is 2021: said, not hidden
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["données", "dictionnaire", "sources"]
    rows = list(wb["données"].iter_rows(values_only=True))
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    assert len(rows) - 1 == gironde.filter(pl.col("population").is_not_null()).height == 534
    assert sum(r[7] for r in rows[1:]) == 1_690_493


def test_cli_format_from_extension_and_wide(tmp_path):
    out = tmp_path / "epci.parquet"
    res = etl("export", "--niveau", "epci", "--parent", "region:75", "--layout", "wide", "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pl.read_parquet(out)
    assert df.height == 154 and "population_2023" in df.columns


def test_cli_csv_writes_its_companion(tmp_path):
    res = etl("export", "--niveau", "region", "--indicateurs", "population", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # without --out: the git-ignored exports/ folder of the current directory, nothing beside it
    assert [p.name for p in tmp_path.iterdir()] == ["exports"]
    files = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert files == ["extrait_regions_france_population_toutes-periodes.csv",
                     "extrait_regions_france_population_toutes-periodes_sources.txt"]
    assert (tmp_path / "exports" / files[0]).read_bytes().startswith(b"\xef\xbb\xbfniveau;code;nom")
    regions = pl.read_csv(tmp_path / "exports" / files[0], separator=";", infer_schema=False)
    assert regions["code"].n_unique() == 18


@pytest.mark.parametrize(("args", "named"), [
    (["--niveau", "commune", "--codes", "33063,99999"], "99999"),
    (["--niveau", "commune", "--indicateurs", "population,indicateur_inexistant"], "indicateur_inexistant"),
    (["--niveau", "commune", "--periode", "1850"], "1850"),
    (["--niveau", "canton"], "canton"),
    (["--niveau", "commune", "--parent", "75"], "region:75"),
    (["--niveau", "commune", "--format", "xlsx", "--out", "x.csv"], "x.csv"),
])
def test_cli_errors_name_the_culprit(tmp_path, args, named):
    res = etl("export", *args, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("Erreur : ") and named in res.stderr
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_cli_issue_example(tmp_path, data_dir, territoires):
    """The issue's command: short-term rentals and carpooling of the Gironde communes in 2024.

    Until the carpooling mart lands, `covoit_trajets` is not in the catalogue: the command stops
    naming it, and the same command without it gives the 2024 snapshot of short-term rentals."""
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet")["indicateur"].to_list()
    ids = ["str_annonces", "covoit_trajets"]
    out = tmp_path / "extrait.xlsx"
    args = ["export", "--niveau", "commune", "--parent", "33", "--periode", "2024", "--format", "xlsx",
            "--out", str(out)]
    res = etl(*args, "--indicateurs", ",".join(ids))
    if "covoit_trajets" not in catalogue:
        assert res.returncode == 2 and not out.exists()
        assert res.stderr == "Erreur : indicateur inconnu du catalogue : covoit_trajets\n"
        ids = ["str_annonces"]
        res = etl(*args, "--indicateurs", ",".join(ids))
    assert res.returncode == 0, res.stderr
    indicateurs = pl.concat([pl.read_parquet(f) for f in sorted((data_dir / "indicateurs").glob("*.parquet"))])
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    expected = indicateurs.filter((pl.col("niveau") == "commune") & pl.col("code").is_in(gironde["code"].implode())
                                  & pl.col("indicateur").is_in(ids) & pl.col("periode").str.starts_with("2024"))
    rows = list(openpyxl.load_workbook(out, read_only=True)["données"].iter_rows(values_only=True))
    assert len(rows) - 1 == expected.height > 0
    assert {r[3] for r in rows[1:]} == set(ids) & set(expected["indicateur"])
    assert {r[6] for r in rows[1:]} == set(expected["periode"])  # 2024 takes 2024-03 (a snapshot month)
    assert sum(r[7] for r in rows[1:] if r[3] == "str_annonces") == expected.filter(
        pl.col("indicateur") == "str_annonces")["valeur"].sum()


def test_cli_serves_any_domain(tmp_path):
    """A domain the code has never heard of is extracted like the others."""
    demo = build(tmp_path / "demo")
    res = etl("export", "--data", str(demo), "--niveau", "commune", "--indicateurs", "demo_trajets", "--periode",
              "2024", "--format", "csv", "--out", str(tmp_path / "demo.csv"))
    assert res.returncode == 0, res.stderr
    df = pl.read_csv(tmp_path / "demo.csv", schema_overrides={"code": pl.String, "periode": pl.String})
    assert df.height == 5 and set(df["nature"]) == {"reel", "simule"}
    assert "Démo modèle (CC BY 4.0)" in (tmp_path / "demo_sources.txt").read_text(encoding="utf-8-sig")


def test_cli_keeps_list_and_run():
    res = etl("--help")
    assert res.returncode == 0 and "list" in res.stdout and "run" in res.stdout and "export" in res.stdout
