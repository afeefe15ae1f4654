"""The registry (RPC) parser: the real format sample, both quoting styles, compression, rejections."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from etl import registry
from etl.sources import rpc
from etl.sources.base import FetchContext, SourceError
from tests import rpc_samples as samples


def parse(path: Path, tmp_path: Path) -> tuple[rpc.FileParse, pl.DataFrame]:
    result = rpc.parse_file(path, tmp_path / "types" / f"{path.name}.parquet")
    return result, pl.read_parquet(result.typed)


def test_real_format_sample(mirror, tmp_path):
    """The mirror's sample: the publisher's header and one real row of February 2025."""
    sample = mirror / rpc.FORMAT_SAMPLE
    assert tuple(rpc.read_header(sample)) == rpc.COLUMNS
    result, df = parse(sample, tmp_path)
    assert result.rows == 1 and not result.rejected
    row = df.row(0, named=True)
    assert row["journey_id"] == "51599592" and row["trip_id"] == "94b0d2ae"
    assert row["mois"] == "2025-02" and row["heure"] == 0
    assert row["insee_depart"] == row["insee_arrivee"] == "34172"
    assert row["pays_depart"] == "France"
    assert row["passagers"] == 1 and row["classe_operateur"] == "C"
    assert row["distance_m"] == 3805 and row["duree_min"] == 9 and row["incitation"] is True
    assert row["lon_depart"] == pytest.approx(3.856) and row["lat_arrivee"] == pytest.approx(43.610)
    assert row["motif_rejet"] is None


def test_both_quoting_styles_give_the_same_rows(tmp_path):
    quoted = samples.hand_made(tmp_path / "2024-03-quoted.csv", quoted_numbers=True, malformed=False)
    plain = samples.hand_made(tmp_path / "2024-03-plain.csv", quoted_numbers=False, malformed=False)
    assert '"12000"' not in quoted.read_text() and '"j1"' in quoted.read_text()  # seats and distance never quoted
    assert ';j1;' not in plain.read_text() and plain.read_text().count(';30;') == len(samples.JOURNEYS)
    a, df_a = parse(quoted, tmp_path)
    b, df_b = parse(plain, tmp_path)
    assert a.rows == b.rows == len(samples.JOURNEYS)
    assert df_a.equals(df_b)
    assert df_a["distance_m"].to_list() == [j[5] for j in samples.JOURNEYS]
    assert df_a.filter(pl.col("journey_id") == "j6")["insee_arrivee"].item() == "XXXXX"


def test_gzip_and_zip_files(tmp_path):
    plain = samples.hand_made(tmp_path / "plain.csv")
    gz = samples.hand_made(tmp_path / "2024-03.csv.gz", gzip_it=True)
    archive = tmp_path / "2024-03.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(plain, "2024-03.csv")
    _, expected = parse(plain, tmp_path)
    for path in (gz, archive):
        _, df = parse(path, tmp_path)
        assert df.equals(expected)


def test_malformed_rows_are_counted_per_reason(tmp_path):
    result, df = parse(samples.hand_made(tmp_path / "2024-03.csv"), tmp_path)
    assert result.rows == len(samples.JOURNEYS) + len(samples.MALFORMED)
    assert result.rejected == Counter(reason for _, reason in samples.MALFORMED)
    # nothing is dropped: rejected rows stay in the typed file with their reason
    assert df.filter(pl.col("motif_rejet").is_not_null()).height == len(samples.MALFORMED)
    assert df.filter(pl.col("motif_rejet").is_null())["journey_id"].to_list() == [j[0] for j in samples.JOURNEYS]
    assert dict(df.schema) == rpc.TYPED_SCHEMA
    # a row with a wrong number of fields keeps its line number and raw text
    short = df.filter(pl.col("motif_rejet") == "nombre de champs différent de 27").row(0, named=True)
    assert short["numero_ligne"] == 1 + len(samples.JOURNEYS) + 2 and short["ligne_brute"] == samples.MALFORMED[1][0]


def test_quoted_separators_and_quotes_inside_text(tmp_path):
    row = samples.line("q1", "Q", "33063", "33281", 1, 2_000, "OUI", 7).replace('"Mérignac"', '"Mérignac; centre"')
    quotes = samples.line("q2", "R", "33063", "XXXXX", 1, 3_000, "NON", 7).replace('"Suisse"', '"La ""Suisse"""')
    result, df = parse(samples.write(tmp_path / "2024-03.csv", [row, quotes]), tmp_path)
    assert not result.rejected
    assert df["distance_m"].to_list() == [2_000, 3_000] and df["incitation"].to_list() == [True, False]
    assert df["pays_arrivee"].to_list() == ["France", 'La "Suisse"']


def test_foreign_codes_of_both_periods(tmp_path):
    old = samples.line("f1", "F", "33063", "XXXXX", 1, 2_000, "OUI", 7)
    new = old.replace('"XXXXX"', '"99140"').replace('"f1"', '"f2"')
    result, df = parse(samples.write(tmp_path / "2024-03.csv", [old, new]), tmp_path)
    assert not result.rejected and df["insee_arrivee"].to_list() == ["XXXXX", "99140"]


def test_wrong_header_is_refused(tmp_path):
    bad = tmp_path / "2020-01vf.csv"
    bad.write_text("journey_id;trip_id;journey_start_lat;journey_start_lon\n1;2;3;4\n", encoding="utf-8")
    with pytest.raises(SourceError, match="en-tête inattendu.*colonne"):
        rpc.parse_file(bad, tmp_path / "x.parquet")


def test_live_mode_parse_lists_each_month(tmp_path):
    f = samples.hand_made(tmp_path / "2024-03.csv")
    parsed = registry.sources()["rpc"].parse({"2024-03": f}, FetchContext(mirror=None, raw_dir=tmp_path))
    assert parsed.nature is None  # real files: the source's own nature ("reel")
    main = parsed.frame.row(0, named=True)
    assert main["mois"] == "2024-03" and main["lignes"] == 13 and main["lignes_rejetees"] == 6
    assert Path(main["fichier_type"]).exists() and main["mois_des_trajets"] == "2024-03"


def test_months_option():
    assert rpc.parse_months("2024-01..2024-03") == ["2024-01", "2024-02", "2024-03"]
    assert rpc.parse_months("2024-11..2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert rpc.parse_months("2024-05, 2024-01") == ["2024-01", "2024-05"]
    assert rpc.parse_months(None) is None
    for bad in ("2024-13", "24-01", "2024-03..2024-01"):
        with pytest.raises(SourceError, match="mois|intervalle"):
            rpc.parse_months(bad)


def test_discovery_skips_legacy_files_and_takes_the_last_twelve():
    listing = {"resources": [
        {"title": "2019-12vf.csv", "url": "https://x/2019-12vf.csv"},
        {"title": "2020-06.csv", "url": "https://x/2020-06.csv"},
        *[{"title": f"{y}-{m:02d}.csv", "url": f"https://x/{y}-{m:02d}.csv"} for y in (2023, 2024) for m in range(1, 13)],
        {"title": "2025-01.csv.gz", "url": "https://x/2025-01.csv.gz"},
        {"title": "documentation.pdf", "url": "https://x/doc.pdf"},
    ]}
    found = rpc.monthly_resources(listing)
    assert "2019-12" not in found and "2020-06" not in found and len(found) == 25
    last = rpc.choose_months(found, None)
    assert list(last) == [f"2024-{m:02d}" for m in range(2, 13)] + ["2025-01"]
    assert list(rpc.choose_months(found, ["2023-05"])) == ["2023-05"]
    with pytest.raises(SourceError, match="non publiés.*2026-01"):
        rpc.choose_months(found, ["2026-01"])
