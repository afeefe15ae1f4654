"""Aggregation of journeys per territory and month, on hand-made files counted by hand.

See `rpc_samples.py` for the journeys: j1-j6 are valid, j7 has an unknown commune code. Each
file goes through the `rpc` source (compact month) and the aggregation, as in a run.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl import covoiturage as cv
from etl.sources import rpc
from tests import rpc_samples as samples


@pytest.fixture(scope="module")
def codes(territoires, parsed_reference):
    return cv.code_table(territoires, parsed_reference["cog_passage"].frame)


def compact(path: Path) -> Path:
    """The month's folder written by the source."""
    return rpc.parse_file(path, path.parent / "mois" / path.stem).folder


@pytest.fixture(scope="module")
def agg(tmp_path_factory, codes):
    tmp = tmp_path_factory.mktemp("rpc")
    return cv.aggregate_files([compact(samples.hand_made(tmp / "2024-03.csv"))], codes, threshold=1)


def figures(agg, niveau, code) -> dict:
    rows = agg.mensuel.filter((pl.col("niveau") == niveau) & (pl.col("code") == code))
    assert rows.height == 1, f"{niveau} {code}: {rows.height} lignes"
    return rows.with_columns(cv.rates()).row(0, named=True)


def test_unknown_code_is_rejected_and_counted(agg):
    assert agg.rejected == {"code commune inconnu du COG 2026 (ni actuel, ni ancien, ni arrondissement)": 1}
    assert agg.months == ["2024-03"]


def test_commune_level(agg):
    bordeaux = figures(agg, "commune", "33063")
    # j1, j2 leave Bordeaux, j3 stays inside (counted once); cars A (j1+j2) and B
    assert (bordeaux["trajets"], bordeaux["trajets_internes"], bordeaux["passagers"], bordeaux["vehicules"]) == (3, 1, 4, 2)
    assert bordeaux["km_passagers"] == pytest.approx(1 * 12 + 2 * 8 + 1 * 5)  # seats × km
    assert bordeaux["km_conducteurs"] == pytest.approx(12 + 5)  # car A drives its longest journey, 12 km
    assert bordeaux["trajets_incites"] == 2
    assert bordeaux["taux_occupation"] == pytest.approx((33 + 17) / 17)
    merignac = figures(agg, "commune", "33281")  # j1, j2 arrive, j4 leaves
    assert (merignac["trajets"], merignac["trajets_internes"], merignac["vehicules"], merignac["km_conducteurs"]) == (
        3, 0, 2, pytest.approx(12 + 45))
    # Paris 1er -> Paris 15e is internal to the commune of Paris
    paris = figures(agg, "commune", "75056")
    assert (paris["trajets"], paris["trajets_internes"]) == (1, 1)
    # the former code 01003 (Amareins) is counted in today's commune, Francheleins
    assert figures(agg, "commune", "01165")["trajets"] == 1
    assert agg.mensuel.filter(pl.col("code") == "01003").height == 0


def test_arrondissement_level(agg):
    for code in ("75101", "75115"):  # crossing at arrondissement level
        row = figures(agg, "arrondissement", code)
        assert (row["trajets"], row["trajets_internes"]) == (1, 0)
    assert agg.mensuel.filter(pl.col("niveau") == "arrondissement").height == 2


def test_internal_at_each_level(agg):
    # Bordeaux -> Mérignac is internal to Bordeaux Métropole; Mérignac -> Libourne crosses its border
    bm = figures(agg, "epci", "243300316")
    assert (bm["trajets"], bm["trajets_internes"], bm["passagers"], bm["vehicules"]) == (4, 3, 5, 3)
    assert bm["km_conducteurs"] == pytest.approx(12 + 5 + 45)
    assert figures(agg, "epci", "200070092")["trajets_internes"] == 0
    # ... and Libourne is in Gironde: all four are internal to the département and the région
    assert (figures(agg, "departement", "33")["trajets"], figures(agg, "departement", "33")["trajets_internes"]) == (4, 4)
    assert figures(agg, "region", "75")["trajets_internes"] == 4
    assert figures(agg, "departement", "01")["trajets_internes"] == 0
    fr = figures(agg, "france", "FR")
    # six valid journeys; the one to Switzerland is not internal to France
    assert (fr["trajets"], fr["trajets_internes"], fr["passagers"], fr["vehicules"]) == (6, 5, 7, 5)
    assert fr["km_passagers"] == pytest.approx(144) and fr["km_conducteurs"] == pytest.approx(128)
    assert fr["taux_occupation"] == pytest.approx(272 / 128)
    assert fr["part_interne"] == pytest.approx(5 / 6 * 100)
    assert fr["part_incitation"] == pytest.approx(50)
    assert fr["co2_evite_t"] == pytest.approx(144 * 195 / 1e6)


def test_distance_classes_and_hours(agg):
    fr = agg.distances.filter((pl.col("niveau") == "france") & (pl.col("periode") == "2024-03"))
    assert dict(fr.select("classe_distance", "trajets").iter_rows()) == {
        "0-10 km": 3, "10-20 km": 1, "40-50 km": 1, "50 km et plus": 1}
    hours = agg.heures.filter((pl.col("niveau") == "france") & (pl.col("periode") == "2024-03"))
    assert dict(hours.select("heure", "trajets").iter_rows()) == {6: 1, 7: 2, 8: 1, 17: 1, 18: 1}
    # communes: the year only
    bordeaux = agg.heures.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    assert bordeaux["periode"].unique().to_list() == ["2024"]
    assert dict(bordeaux.select("heure", "trajets").iter_rows()) == {7: 2, 8: 1}


def test_flows_between_communes_and_epci(agg):
    com = agg.flux.filter(pl.col("niveau") == "commune")
    got = {(a, b): (n, p) for a, b, n, p in com.select("code_1", "code_2", "trajets", "passagers").iter_rows()}
    assert got == {("33063", "33281"): (2, 3), ("33063", "33063"): (1, 1), ("33243", "33281"): (1, 1),
                   ("75056", "75056"): (1, 1), ("01165", "etranger:Suisse"): (1, 1)}
    epci = agg.flux.filter(pl.col("niveau") == "epci")
    assert set(zip(epci["code_1"], epci["code_2"], strict=True)) == {
        ("243300316", "243300316"), ("200070092", "243300316"), ("200054781", "200054781"),
        ("200070118", "etranger:Suisse")}
    assert agg.etranger["code"].to_list() == ["etranger:Suisse"]


def test_ten_passenger_threshold(tmp_path, codes):
    rows = (
        [samples.line(f"a{i}", f"A{i}", "33063", "33243", 2, 30_000, "NON", 7) for i in range(5)]  # 10 passengers
        + [samples.line(f"b{i}", f"B{i}", "33281", "33243", 1, 30_000, "NON", 7) for i in range(9)]  # 9 passengers
        + [samples.line(f"c{i}", f"C{i}", "33063", "75101", 2, 85_000, "NON", 7) for i in range(6)]  # 80 km and more
    )
    folder = compact(samples.write(tmp_path / "2024-03.csv", rows))
    default = cv.aggregate_files([folder], codes)
    pairs = default.flux.filter(pl.col("niveau") == "commune").select("code_1", "code_2", "passagers").rows()
    assert pairs == [("33063", "33243", 10)]
    lower = cv.aggregate_files([folder], codes, threshold=9)
    assert lower.flux.filter(pl.col("niveau") == "commune").height == 2
    # journeys of 80 km or more count in every total, but not in flows
    assert figures(default, "commune", "75056")["trajets"] == 6


def test_months_are_summed_not_duplicated(tmp_path, codes):
    a = compact(samples.hand_made(tmp_path / "a.csv", malformed=False))
    april = [r.replace("2024-03-05", "2024-04-05") for r in
             (samples.line(*j) for j in samples.JOURNEYS)]
    b = compact(samples.write(tmp_path / "b.csv", april))
    agg = cv.aggregate_files([a, b], codes, threshold=1)
    assert agg.months == ["2024-03", "2024-04"]
    fr = agg.mensuel.filter(pl.col("niveau") == "france")
    assert fr["trajets"].to_list() == [6, 6]
    # the communes' yearly distributions add both months
    bordeaux = agg.heures.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    assert dict(bordeaux.select("heure", "trajets").iter_rows()) == {7: 4, 8: 2}


def test_island_commune_outside_any_epci_is_no_epci_flow(tmp_path, codes):
    """Île-de-Sein (29083) has no EPCI: its journeys to Brest are a commune flow, not an EPCI self-pair."""
    assert codes.filter(pl.col("insee") == "29083")["epci"].item() is None
    rows = [samples.line(f"s{i}", f"S{i}", "29083", "29019", 2, 20_000, "NON", 8) for i in range(6)]
    rows += [samples.line("b1", "B1", "29019", "29019", 1, 4_000, "NON", 9)]
    agg = cv.aggregate_files([compact(samples.write(tmp_path / "2024-03.csv", rows))], codes, threshold=1)
    brest_epci = codes.filter(pl.col("insee") == "29019")["epci"].item()
    epci = agg.flux.filter(pl.col("niveau") == "epci")
    # only the journey inside Brest is a Brest Métropole pair (1 journey, 1 passenger), not 7 journeys
    assert epci.select("code_1", "code_2", "trajets", "passagers").rows() == [(brest_epci, brest_epci, 1, 1)]
    communes = agg.flux.filter(pl.col("niveau") == "commune")
    assert ("29019", "29083", 6, 12) in communes.select("code_1", "code_2", "trajets", "passagers").rows()
    # the island's journeys still count for Brest Métropole (origin or destination in it) and for the Finistère
    assert figures(agg, "epci", brest_epci)["trajets"] == 7
    assert figures(agg, "departement", "29")["trajets_internes"] == 7


def test_a_car_picking_up_in_two_communes_counts_once(tmp_path, codes):
    """Passengers of one car from Bordeaux and from Mérignac to Libourne: one car, its longest journey."""
    rows = [samples.line("p1", "M", "33063", "33243", 1, 38_000, "OUI", 7),
            samples.line("p2", "M", "33281", "33243", 2, 41_000, "OUI", 7),
            samples.line("p3", "N", "33281", "33243", 1, 40_000, "NON", 8)]
    folder = compact(samples.write(tmp_path / "2024-03.csv", rows))
    assert pl.read_ipc(folder / "mixtes.arrow")["vehicule"].n_unique() == 1  # car M, across two pairs
    agg = cv.aggregate_files([folder], codes, threshold=1)
    libourne = figures(agg, "commune", "33243")
    assert (libourne["trajets"], libourne["vehicules"], libourne["km_conducteurs"]) == (3, 2, pytest.approx(41 + 40))
    assert figures(agg, "commune", "33063")["vehicules"] == 1 and figures(agg, "commune", "33063")["km_conducteurs"] == 38
    merignac = figures(agg, "commune", "33281")
    assert (merignac["vehicules"], merignac["km_conducteurs"]) == (2, pytest.approx(41 + 40))
    bm = figures(agg, "epci", "243300316")  # Bordeaux Métropole: car M once, at 41 km
    assert (bm["trajets"], bm["vehicules"], bm["km_conducteurs"]) == (3, 2, pytest.approx(41 + 40))
    fr = figures(agg, "france", "FR")
    assert (fr["vehicules"], fr["km_passagers"], fr["km_conducteurs"]) == (2, pytest.approx(38 + 82 + 40), 81)


def test_a_refresh_aggregates_the_new_month_only(tmp_path, codes, monkeypatch):
    """Each month's aggregates are kept beside it: a new month is the only one aggregated; a new
    code table (another COG) aggregates every month again; the figures do not change."""
    def month(m: str) -> Path:
        rows = [samples.line(*j).replace("2024-03-05", f"{m}-05") for j in samples.JOURNEYS]
        return compact(samples.write(tmp_path / f"{m}.csv", rows))

    folders = [month(m) for m in ("2024-01", "2024-02")]
    done: list[str] = []
    real = cv.aggregate_month

    def spy(compact_month, territories):
        done.append(compact_month.months[0])
        return real(compact_month, territories)

    monkeypatch.setattr(cv, "aggregate_month", spy)
    first = cv.aggregate_files(folders, codes, threshold=1)
    assert done == ["2024-01", "2024-02"]
    done.clear()
    folders.append(month("2024-03"))
    second = cv.aggregate_files(folders, codes, threshold=1)
    assert done == ["2024-03"]
    assert second.mensuel.filter(pl.col("mois") != "2024-03").equals(first.mensuel)
    assert second.flux.filter(pl.col("mois") != "2024-03").equals(first.flux)
    done.clear()

    def internal(agg) -> list[int]:
        bm = agg.mensuel.filter((pl.col("niveau") == "epci") & (pl.col("code") == "243300316")).sort("mois")
        return bm["trajets_internes"].to_list()

    before = internal(second)  # read now: the aggregates are read back from the months' folders
    other = codes.with_columns(pl.when(pl.col("insee") == "33243").then(pl.lit("243300316")).otherwise(pl.col("epci"))
                               .alias("epci"))  # Libourne moved into Bordeaux Métropole
    moved = cv.aggregate_files(folders, other, threshold=1)
    assert done == ["2024-01", "2024-02", "2024-03"]
    # j4, Mérignac -> Libourne, is now internal to Bordeaux Métropole, each month
    assert internal(moved) == [n + 1 for n in before] == [4, 4, 4]
    # the months' folders now hold the sums of the other codes: the earlier result refuses to read them
    with pytest.raises(ValueError, match="recalculés depuis"):
        internal(second)


def test_yearly_distributions_add_months_of_different_hours(tmp_path, codes):
    """The communes' yearly distributions are summed from arrays as wide as the hours each month
    uses (not the 128 a key allows): a month ending at 8 h and one with a journey at 22 h add up;
    two years are two periods, in the order of the published table."""
    import numpy as np

    def month(m: str, journeys: list[tuple]) -> Path:
        rows = [samples.line(*j).replace("2024-03-05", f"{m}-05") for j in journeys]
        return compact(samples.write(tmp_path / f"{m}.csv", rows))

    j1, j2, j3 = samples.JOURNEYS[:3]  # Bordeaux at 7 h, 7 h and 8 h
    late = ("n1", "N", "33063", "33281", 1, 9_000, "NON", 22)
    folders = [month("2024-11", [j1, j2, j3]), month("2024-12", [j1, j2, j3, late]), month("2025-01", [j3])]
    agg = cv.aggregate_files(folders, codes, threshold=1)
    bordeaux = agg.heures.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    by_year = {y: dict(bordeaux.filter(pl.col("periode") == y).select("heure", "trajets").iter_rows())
               for y in ("2024", "2025")}
    assert by_year == {"2024": {7: 4, 8: 2, 22: 1}, "2025": {8: 1}}
    widths = [np.load(f / "agregats" / "local.npz")["commune|heure|" + f.name[:4]].shape[1] for f in folders]
    assert widths == [9, 23, 9]  # hours 0-8, 0-22, 0-8
    keys = ["niveau", "code", "periode", "heure"]
    assert agg.heures.equals(agg.heures.sort(keys)) and agg.distances.equals(
        agg.distances.sort(["niveau", "code", "periode"], maintain_order=True))
