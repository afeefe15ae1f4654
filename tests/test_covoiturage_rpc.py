"""The registry (RPC) parser: the real format sample, both quoting styles, compression, rejections,
polars' reader against the line reader, and the compact months reused by later runs."""

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


def parse(path: Path, tmp_path: Path) -> tuple[rpc.RowsRead, pl.DataFrame]:
    """What `read_rows` gives, and the valid rows."""
    read = rpc.read_rows(path, tmp_path)
    return read, read.valid


def test_real_format_sample(mirror, tmp_path):
    """The mirror's sample: the publisher's header and one real row of February 2025."""
    sample = mirror / rpc.FORMAT_SAMPLE
    assert tuple(rpc.read_header(sample)) == rpc.COLUMNS
    read, df = parse(sample, tmp_path)
    assert read.rows == 1 and not read.rejected.height and not read.careful
    result = rpc.parse_file(sample, tmp_path / "2025-02")
    assert result.rows == 1 and not result.rejected and result.months == ["2025-02"]
    row = df.row(0, named=True)
    assert row["journey_id"] == "51599592" and row["trip_id"] == "94b0d2ae"
    assert row["mois"] == "2025-02" and row["heure"] == 0
    assert row["insee_depart"] == row["insee_arrivee"] == "34172"
    assert row["pays_depart"] == "France"
    assert row["passagers"] == 1 and row["classe_operateur"] == "C"
    assert row["distance_m"] == 3805 and row["duree_min"] == 9 and row["incitation"] is True
    assert row["lon_depart"] == pytest.approx(3.856) and row["lat_arrivee"] == pytest.approx(43.610)
    # the line reader gives the same row
    assert rpc.read_rows(sample, tmp_path, careful=True).valid.equals(df)


def test_both_quoting_styles_give_the_same_rows(tmp_path):
    quoted = samples.hand_made(tmp_path / "2024-03-quoted.csv", quoted_numbers=True, malformed=False)
    plain = samples.hand_made(tmp_path / "2024-03-plain.csv", quoted_numbers=False, malformed=False)
    assert '"12000"' not in quoted.read_text() and '"j1"' in quoted.read_text()  # seats and distance never quoted
    assert ';j1;' not in plain.read_text() and plain.read_text().count(';30;') == len(samples.JOURNEYS)
    a, df_a = parse(quoted, tmp_path)
    b, df_b = parse(plain, tmp_path)
    assert a.rows == b.rows == len(samples.JOURNEYS) and not a.careful and not b.careful
    assert df_a.equals(df_b)
    assert dict(df_a.schema) == rpc.VALID_SCHEMA
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
    path = samples.hand_made(tmp_path / "2024-03.csv")
    read, df = parse(path, tmp_path)
    assert read.careful  # polars' reader cannot vouch for these rows: the line reader took over
    assert read.rows == len(samples.JOURNEYS) + len(samples.MALFORMED)
    assert Counter(read.rejected["motif_rejet"].to_list()) == Counter(reason for _, reason in samples.MALFORMED)
    assert df["journey_id"].to_list() == [j[0] for j in samples.JOURNEYS]
    assert dict(read.rejected.schema) == rpc.TYPED_SCHEMA
    # a row with a wrong number of fields keeps its line number and raw text
    short = read.rejected.filter(pl.col("motif_rejet") == "nombre de champs différent de 27").row(0, named=True)
    assert short["numero_ligne"] == 1 + len(samples.JOURNEYS) + 2 and short["ligne_brute"] == samples.MALFORMED[1][0]
    # the month's folder: counts per reason, and nothing dropped (the rejected rows are kept there)
    result = rpc.parse_file(path, tmp_path / "mois" / "2024-03")
    assert result.rejected == Counter(reason for _, reason in samples.MALFORMED)
    kept = pl.read_parquet(result.folder / "rejets.parquet")
    assert kept.height == len(samples.MALFORMED) and kept["numero_ligne"].to_list() == sorted(kept["numero_ligne"])


@pytest.mark.parametrize("bad", range(len(samples.MALFORMED)))
def test_each_malformed_row_sends_the_file_to_the_line_reader(tmp_path, bad):
    """One bad row among good ones: the good rows are the same as polars' reader gives without it."""
    good = [samples.line(*j) for j in samples.JOURNEYS]
    row, reason = samples.MALFORMED[bad]
    _, clean = parse(samples.write(tmp_path / "clean.csv", good), tmp_path)
    read, df = parse(samples.write(tmp_path / "2024-03.csv", good + [row]), tmp_path)
    assert read.careful and read.rejected["motif_rejet"].to_list() == [reason]
    assert df.equals(clean)


def test_polars_reader_and_line_reader_agree_on_a_simulated_month(tmp_path, mirror):
    """A month of the simulator (Haute-Savoie, with Geneva: ends abroad) read both ways."""
    from etl import simulate_rpc as sim

    ref = sim.restrict(sim.reference_from_mirror(mirror), ["74"])
    path = sim.simulate(ref, ["2024-05"], tmp_path, scale=0.2)["2024-05"]
    fast, careful = rpc.read_rows(path, tmp_path), rpc.read_rows(path, tmp_path, careful=True)
    assert not fast.careful and careful.careful and fast.rows == careful.rows > 1000
    assert fast.valid.equals(careful.valid)
    assert fast.valid["insee_arrivee"].str.contains(rpc.FOREIGN_RE).sum() > 0


def test_quoted_separators_and_quotes_inside_text(tmp_path):
    row = samples.line("q1", "Q", "33063", "33281", 1, 2_000, "OUI", 7).replace('"Mérignac"', '"Mérignac; centre"')
    quotes = samples.line("q2", "R", "33063", "XXXXX", 1, 3_000, "NON", 7).replace('"Suisse"', '"La ""Suisse"""')
    path = samples.write(tmp_path / "2024-03.csv", [row, quotes])
    result, df = parse(path, tmp_path)
    assert not result.rejected.height
    assert df["distance_m"].to_list() == [2_000, 3_000] and df["incitation"].to_list() == [True, False]
    assert df["pays_arrivee"].to_list() == ["France", 'La "Suisse"']
    assert rpc.read_rows(path, tmp_path, careful=True).valid.equals(df)


def test_foreign_codes_of_both_periods(tmp_path):
    old = samples.line("f1", "F", "33063", "XXXXX", 1, 2_000, "OUI", 7)
    new = old.replace('"XXXXX"', '"99140"').replace('"f1"', '"f2"')
    result, df = parse(samples.write(tmp_path / "2024-03.csv", [old, new]), tmp_path)
    assert not result.rejected.height and df["insee_arrivee"].to_list() == ["XXXXX", "99140"]


def test_wrong_header_is_refused(tmp_path):
    bad = tmp_path / "2020-01vf.csv"
    bad.write_text("journey_id;trip_id;journey_start_lat;journey_start_lon\n1;2;3;4\n", encoding="utf-8")
    with pytest.raises(SourceError, match="en-tête inattendu.*colonne"):
        rpc.parse_file(bad, tmp_path / "2020-01")


def test_live_mode_parse_lists_each_month(tmp_path):
    f = samples.hand_made(tmp_path / "2024-03.csv")
    parsed = registry.sources()["rpc"].parse({"2024-03": f}, FetchContext(mirror=None, raw_dir=tmp_path))
    assert parsed.nature is None  # real files: the source's own nature ("reel")
    main = parsed.frame.row(0, named=True)
    assert main["mois"] == "2024-03" and main["lignes"] == 13 and main["lignes_rejetees"] == 6
    assert (Path(main["intermediaire"]) / "meta.json").exists() and main["mois_des_trajets"] == "2024-03"
    assert main["relu"] is True


def _counting_reads(monkeypatch) -> list[str]:
    """Record the files whose rows are read (the expensive step a reused month skips)."""
    read: list[str] = []
    real = rpc.read_rows

    def spy(path, tmp_dir, **kwargs):
        read.append(Path(path).name)
        return real(path, tmp_dir, **kwargs)

    monkeypatch.setattr(rpc, "read_rows", spy)
    return read


def test_a_new_month_reads_that_month_only(tmp_path, monkeypatch):
    """Monthly refresh: the months already compacted are reused, the new one is read; figures unchanged."""
    def month(m: str) -> Path:
        rows = [samples.line(*j).replace("2024-03-05", f"{m}-05") for j in samples.JOURNEYS]
        return samples.write(tmp_path / f"{m}.csv", rows)

    files = {m: month(m) for m in ("2024-01", "2024-02", "2024-03")}
    read = _counting_reads(monkeypatch)
    first = rpc.parse_files({m: files[m] for m in ("2024-01", "2024-02")}, tmp_path / "mois")
    assert sorted(read) == ["2024-01.csv", "2024-02.csv"]
    read.clear()
    second = rpc.parse_files(files, tmp_path / "mois")
    assert read == ["2024-03.csv"]  # one file read for one new month
    assert second.frame["relu"].to_list() == [False, False, True]
    assert second.rows_read == first.rows_read + len(samples.JOURNEYS)
    # a republished month (other content) is read again; so is every month when the code changes
    read.clear()
    month("2024-02").write_text(files["2024-02"].read_text().replace('"j1"', '"j1bis"'), encoding="utf-8")
    rpc.parse_files(files, tmp_path / "mois")
    assert read == ["2024-02.csv"]
    read.clear()
    monkeypatch.setattr(rpc, "CODE_VERSION", "autre")
    rpc.parse_files(files, tmp_path / "mois")
    assert sorted(read) == ["2024-01.csv", "2024-02.csv", "2024-03.csv"]


def test_an_interrupted_month_is_read_again(tmp_path, monkeypatch):
    """The folder counts only once its meta.json (written last) names the file: otherwise it is redone."""
    path = samples.hand_made(tmp_path / "2024-03.csv", malformed=False)
    folder = tmp_path / "mois" / "2024-03"
    rpc.parse_file(path, folder)
    (folder / "meta.json").unlink()
    read = _counting_reads(monkeypatch)
    again = rpc.parse_file(path, folder)
    assert read == ["2024-03.csv"] and again.reparsed and again.rows == len(samples.JOURNEYS)


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


def test_codes_that_are_not_five_characters_are_rejected(tmp_path):
    """Codes polars' reader would read as numbers (+3306) or empty go to the line reader, rejected."""
    good = [samples.line(*j) for j in samples.JOURNEYS[:3]]
    bad = [samples.line("e1", "E1", "33063", "33281", 1, 1_000, "OUI", 7).replace('"33063"', '""', 1),
           samples.line("e2", "E2", "33063", "33281", 1, 1_000, "OUI", 7).replace('"33063"', '"+3306"', 1)]
    read, df = parse(samples.write(tmp_path / "2024-03.csv", good + bad), tmp_path)
    assert read.careful and df["journey_id"].to_list() == ["j1", "j2", "j3"]
    assert read.rejected["motif_rejet"].to_list() == [rpc.REASONS["commune"]] * 2
