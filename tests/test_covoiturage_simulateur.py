"""The RPC simulator on small samples: exact format, calibration per EPCI, shapes, determinism.

The full-year simulation (7.3 million rows) is exercised by the embedded-data rebuild; these
tests use a few départements at a small scale, through the real parser and aggregation.
"""

from __future__ import annotations

import gzip
import re

import polars as pl
import pytest

from etl import covoiturage as cv
from etl import simulate_rpc as sim
from etl.sources import rpc

SCALE = 0.05


@pytest.fixture(scope="module")
def reference(mirror):
    return sim.reference_from_mirror(mirror)


@pytest.fixture(scope="module")
def sample(reference, tmp_path_factory, territoires, parsed_reference):
    """Gironde and Haute-Savoie (with Geneva), 12 months at 5 % of the real volumes."""
    ref = sim.restrict(reference, ["33", "74"])
    out = tmp_path_factory.mktemp("sim")
    paths = sim.simulate(ref, sim.default_months(), out, scale=SCALE)
    parsed = rpc.parse_files(paths, out / "mois")
    codes = cv.code_table(territoires, parsed_reference["cog_passage"].frame)
    agg = cv.aggregate_files(parsed.frame["intermediaire"].to_list(), codes)
    return ref, paths, parsed, agg


def test_reference_nodes(reference):
    nodes = reference.nodes
    # metropolitan communes of EPCI with trips, Paris/Lyon/Marseille by arrondissement, foreign cities
    assert nodes.filter(pl.col("code") == "75056").height == 0
    assert nodes.filter(pl.col("code").str.starts_with("751")).height == 20
    assert nodes.filter(pl.col("code").str.starts_with("97")).height == 0
    assert nodes.filter(pl.col("code").is_null())["pays"].unique().sort().to_list() == [
        "Allemagne", "Andorre", "Belgique", "Espagne", "Italie", "Luxembourg", "Monaco", "Suisse"]
    assert reference.targets["243300316"] == 68_886
    assert len(reference.campaigns) == 111


def test_exact_format(sample, mirror):
    _, paths, _, _ = sample
    with gzip.open(paths["2024-03"], "rt", encoding="utf-8") as fh:
        head, first = fh.readline().rstrip("\n"), fh.readline().rstrip("\n")
    real_header = (mirror / rpc.FORMAT_SAMPLE).read_text(encoding="utf-8").splitlines()[0]
    assert head == real_header
    # quoting of the real files up to 2025: ids, coordinates and duration quoted; seats and distance not
    fields = first.split(";")
    assert len(fields) == 27
    assert re.fullmatch(r'"\d+"', fields[0]) and re.fullmatch(r'"[0-9a-f]{8}"', fields[1])
    assert re.fullmatch(r'"2024-03-\d\dT\d\d:\d0:00\+0[12]00"', fields[2])
    assert re.fullmatch(r'"-?\d+\.\d{2,3}"', fields[5])
    assert re.fullmatch(r"[12]", fields[22]) and re.fullmatch(r"\d+", fields[24])
    assert re.fullmatch(r'"\d+"', fields[25]) and fields[26] in ('"OUI"', '"NON"')


def test_calibration_is_exact_per_epci(sample):
    """Journeys with origin or destination in each EPCI (the definition of covoit_trajets) = real total × scale."""
    ref, _, parsed, agg = sample
    assert parsed.rejected == {} and agg.rejected == {}
    year = agg.mensuel.filter(pl.col("niveau") == "epci").group_by("code").agg(pl.col("trajets").sum())
    got = dict(year.iter_rows())
    expected = {k: round(v * SCALE) for k, v in ref.targets.items() if round(v * SCALE) > 0}
    assert got == expected
    assert got["243300316"] == round(68_886 * SCALE)


def test_shapes_like_the_observatory(sample):
    _, paths, parsed, agg = sample
    typed = pl.concat([rpc.read_rows(p, p.parent).valid for p in paths.values()])
    assert typed["distance_m"].max() < 80_000
    assert 18 <= typed["distance_m"].mean() / 1000 <= 32
    assert 24 <= typed["duree_min"].mean() <= 36
    fr = agg.mensuel.filter(pl.col("niveau") == "france").select(pl.col(c).sum() for c in cv.SUMS)
    occupancy = fr.with_columns(cv.rates())["taux_occupation"].item()
    assert 2.1 <= occupancy <= 2.5
    hours = agg.heures.filter(pl.col("niveau") == "france").group_by("heure").agg(pl.col("trajets").sum())
    peak = hours.sort("trajets", descending=True)["heure"].head(2).to_list()
    assert set(peak) <= {7, 8, 17, 18}
    # August is the quietest month
    months = agg.mensuel.filter(pl.col("niveau") == "france").sort("trajets")
    assert months["mois"][0] == "2024-08"
    # Geneva: foreign ends written "XXXXX" with the country
    foreign = typed.filter(pl.col("insee_arrivee") == "XXXXX")
    assert foreign.height > 0 and foreign["pays_arrivee"].unique().to_list() == ["Suisse"]


def test_deterministic_and_later_formats(reference):
    ref = sim.restrict(reference, ["74"])
    plan = sim.plan_year(ref, year=2026, scale=0.02)
    a = sim.month_frame(ref, plan, 3)
    assert a.equals(sim.month_frame(ref, sim.plan_year(ref, year=2026, scale=0.02), 3))
    first = a.row(0)
    # from 2026: numbers unquoted; since February 2025: foreign points carry INSEE country codes
    assert re.fullmatch(r"\d+", first[0]) and re.fullmatch(r"\d+", first[25])
    codes = set(a['"journey_start_insee"'].to_list()) | set(a['"journey_end_insee"'].to_list())
    assert '"99140"' in codes and '"XXXXX"' not in codes
