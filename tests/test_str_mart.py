"""Short-term rental mart: real values from the mirror, coverage, sums up the levels, registration, nights."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
import shapely

from etl import geo, registry
from etl.marts.locations_courte_duree import assign, coverage, estimated_nights, licence_status
from etl.sources.base import FetchContext, fetch

BM, MET_LYON = "243300316", "200046977"


@pytest.fixture(scope="module")
def listings(mirror):
    return fetch(registry.sources()["insideairbnb"], FetchContext(mirror=mirror, raw_dir=Path("/x"), progress=False))[0]


@pytest.fixture(scope="module")
def polygons(parsed_contours):
    return parsed_contours.tables["communes"]


@pytest.fixture(scope="module")
def located(listings, polygons):
    return assign(listings.frame, polygons)


@pytest.fixture(scope="module")
def ind(data_dir):
    return pl.read_parquet(data_dir / "indicateurs" / "locations_courte_duree.parquet")


@pytest.fixture(scope="module")
def detail(data_dir):
    return pl.read_parquet(data_dir / "locations" / "territoires.parquet")


def val(ind: pl.DataFrame, niveau: str, code: str, indicator: str, period: str) -> float | None:
    hit = ind.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicator)
                     & (pl.col("periode") == period))
    return hit["valeur"][0] if hit.height else None


def test_every_lyon_listing_lands_in_the_metropole_de_lyon(located, territoires):
    lyon = located.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03"))
    assert lyon.height == 10_113
    epci = lyon.join(territoires.filter(pl.col("niveau") == "commune").select(pl.col("code").alias("code_commune"),
                                                                              "code_epci"), on="code_commune", how="left")
    assert epci["code_epci"].to_list() == [MET_LYON] * 10_113
    # those in the commune of Lyon have their arrondissement, the others none
    in_lyon = lyon.filter(pl.col("code_commune") == "69123")
    assert in_lyon.height == 10_050
    assert in_lyon["code_arrondissement"].null_count() == 0
    assert lyon.filter(pl.col("code_commune") != "69123")["code_arrondissement"].null_count() == 63


def test_point_in_polygon_matches_a_plain_contains(located, polygons):
    """The STRtree answer equals shapely `contains` on the polygon itself (Lyon 3e, Mérignac)."""
    for code, col in (("69383", "code_arrondissement"), ("33281", "code_commune")):
        poly = geo.from_wkb(polygons.filter(pl.col("code") == code)["geometry"])[0]
        pts = shapely.points(located["longitude"].to_numpy(), located["latitude"].to_numpy())
        inside = shapely.contains(poly, pts) | shapely.touches(poly, pts)
        assert (located[col] == code).fill_null(False).to_numpy().sum() == inside.sum()


def test_coverage_is_bordeaux_metropole_and_the_commune_of_lyon(located, territoires):
    cov = coverage(located)
    bm = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_epci") == BM))["code"].sort().to_list()
    assert len(bm) == 28
    for period in ("2021-12", "2024-03"):
        assert cov.filter((pl.col("ville") == "bordeaux") & (pl.col("instantane") == period))["code_commune"].to_list() == bm
        assert cov.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == period))["code_commune"].to_list() == ["69123"]


def test_listing_counts_and_coverage_rows(ind, data_dir):
    assert val(ind, "epci", BM, "str_annonces", "2024-03") == 12_030  # 12,032 minus 2 in Léognan
    assert val(ind, "epci", BM, "str_annonces", "2021-12") == 9_468  # 9,471 minus Tresses 2, Le Pian-Médoc 1
    assert val(ind, "commune", "69123", "str_annonces", "2024-03") == 10_050
    assert val(ind, "commune", "69123", "str_annonces", "2021-12") == 8_927
    # non couvert: no row, never 0
    for niveau, code in (("epci", MET_LYON), ("commune", "69266"), ("departement", "33"), ("departement", "69"),
                         ("region", "75"), ("france", "FR"), ("commune", "75056")):
        assert ind.filter((pl.col("niveau") == niveau) & (pl.col("code") == code)).height == 0, (niveau, code)
    manifest = __import__("json").loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    mart = manifest["marts"]["locations_courte_duree"]
    assert mart["lignes_rejetees"] == {"annonce hors du périmètre couvert par sa ville": 3 + 2 + 93 + 63}
    assert any("Villeurbanne 39" in n for n in mart["notes"])
    assert manifest["sources"]["insideairbnb"]["attribution"] == "Inside Airbnb, CC BY 4.0"
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet").filter(pl.col("indicateur").str.starts_with("str_"))
    assert catalogue.height == 14
    assert all("CC BY 4.0" in lic and "Inside Airbnb" in lic for lic in catalogue["licence"])


def test_sums_go_up_and_rates_are_recomputed(ind, detail, territoires):
    for period in ("2021-12", "2024-03"):
        communes = detail.filter((pl.col("niveau") == "commune") & (pl.col("instantane") == period)).join(
            territoires.filter(pl.col("niveau") == "commune").select("code", "code_epci"), on="code")
        bm = communes.filter(pl.col("code_epci") == BM)
        assert bm.height == 28
        row = detail.filter((pl.col("niveau") == "epci") & (pl.col("code") == BM) & (pl.col("instantane") == period))
        assert row["annonces"][0] == bm["annonces"].sum()
        assert val(ind, "epci", BM, "str_part_logement_entier", period) == pytest.approx(
            bm["logements_entiers"].sum() / bm["annonces"].sum() * 100)
        assert val(ind, "epci", BM, "str_part_logement_entier", period) != pytest.approx(
            (bm["logements_entiers"] / bm["annonces"]).mean() * 100)
        arr = detail.filter((pl.col("niveau") == "arrondissement") & (pl.col("instantane") == period))
        assert arr.height == 9
        lyon = detail.filter((pl.col("niveau") == "commune") & (pl.col("code") == "69123")
                             & (pl.col("instantane") == period))
        assert lyon["annonces"][0] == arr["annonces"].sum()
    logements = territoires.filter((pl.col("niveau") == "epci") & (pl.col("code") == BM))["logements"][0]
    assert val(ind, "epci", BM, "str_annonces_pour_100_logements", "2024-03") == pytest.approx(12_030 / logements * 100)


def test_lyon_entire_home_share(listings, located, ind):
    lyon = listings.frame.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03"))
    # the file as Inside Airbnb publishes it
    assert (lyon["room_type"] == "Entire home/apt").sum() == 7_901
    assert lyon.height == 10_113
    # the commune of Lyon: the same listings less the 63 standing in neighbouring communes
    in_lyon = located.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03")
                             & (pl.col("code_commune") == "69123"))
    entire = (in_lyon["room_type"] == "Entire home/apt").sum()
    assert val(ind, "commune", "69123", "str_part_logement_entier", "2024-03") == pytest.approx(entire / 10_050 * 100)
    assert entire == 7_901 - (located.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03")
                                             & (pl.col("code_commune") != "69123"))["room_type"] == "Entire home/apt").sum()


def test_turnover_by_listing_id(mirror, data_dir):
    def ids(folder: str) -> set[str]:
        with open(mirror / "insideairbnb" / "france" / folder / "visualisations" / "listings.csv", encoding="utf-8",
                  newline="") as fh:
            return {r["id"] for r in csv.DictReader(fh)}

    before, after = ids("nouvelle-aquitaine/bordeaux/2021-12"), ids("nouvelle-aquitaine/bordeaux/2024-03")
    assert len(before & after) == 6_166
    snaps = pl.read_parquet(data_dir / "locations" / "instantanes.parquet")
    bdx = snaps.filter((pl.col("ville") == "bordeaux") & (pl.col("instantane") == "2024-03")).row(0, named=True)
    assert (bdx["restees"], bdx["apparues"], bdx["disparues"]) == (6_166, len(after - before), len(before - after))
    lyon = snaps.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03")).row(0, named=True)
    assert lyon["restees"] == 5_910
    # per territory: what stayed plus what appeared is what the later snapshot holds there
    rot = pl.read_parquet(data_dir / "locations" / "rotation.parquet")
    detail = pl.read_parquet(data_dir / "locations" / "territoires.parquet")
    for niveau, code in (("epci", BM), ("commune", "33063"), ("arrondissement", "69383")):
        r = rot.filter((pl.col("niveau") == niveau) & (pl.col("code") == code))
        n = detail.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("instantane") == "2024-03"))
        assert r["restees"].sum() + r["apparues"].sum() == n["annonces"][0]
        assert set(r["type_logement"]) <= {"Logement entier", "Chambre privée", "Chambre d'hôtel", "Chambre partagée"}


def test_licence_status_on_real_forms():
    df = pl.DataFrame({
        "lic": ["33063005371B2", "33063005371B2", "6938113058353", "6938113058353", "69123ABC12345", " 3306300031048 ",
                "1234567890123", "Exempt - hotel-type listing", 'Available with a mobility lease only ("bail mobilité")',
                None, "", "69 386 128 11 855", "33063005371b2"],
        "com": ["33063", "33281", "69123", "69123", "69123", "33063", "33063", "33063", "33063", "33063", "33063",
                "69123", "33063"],
        "arr": [None, None, "69381", "69382", "69383", None, None, None, None, None, None, "69386", None],
    })
    got = df.select(licence_status(pl.col("lic"), pl.col("com"), pl.col("arr")).alias("s"))["s"].to_list()
    assert got == ["valide", "mal_forme", "valide", "mal_forme", "valide", "valide", "mal_forme", "exempte",
                   "bail_mobilite", "absent", "absent", "mal_forme", "valide"]


def test_registration_shares_add_up(ind, detail):
    for code in ("33063", "69123"):
        parts = [val(ind, "commune", code, i, "2024-03") for i in
                 ("str_part_numero_valide", "str_part_numero_exempt", "str_part_bail_mobilite", "str_part_sans_numero")]
        assert sum(parts) == pytest.approx(100)
    row = detail.filter((pl.col("code") == "33063") & (pl.col("instantane") == "2024-03")).row(0, named=True)
    assert row["numero_valide"] == 3_929  # Bordeaux: 13 characters starting with 33063


def test_nights_model_and_nature(ind, data_dir):
    df = pl.DataFrame({"r": [10, 10, 100, None, 0], "m": [2, 5, 1, 2, 30]}, schema={"r": pl.Float64, "m": pl.Int64})
    got = df.select(estimated_nights(pl.col("r"), pl.col("m")).alias("n"))["n"].to_list()
    assert got == [60.0, 100.0, 255.0, None, 0.0]
    natures = dict(ind.select("indicateur", "nature").unique().iter_rows())
    assert natures["str_nuitees_estimees"] == natures["str_part_entiers_plus_120_nuits"] == "estime"
    assert natures["str_annonces"] == natures["str_part_numero_valide"] == "reel"
    nights = pl.read_parquet(data_dir / "locations" / "nuitees.parquet")
    detail = pl.read_parquet(data_dir / "locations" / "territoires.parquet")
    bm = nights.filter((pl.col("code") == BM) & (pl.col("instantane") == "2024-03") & pl.col("logement_entier"))
    row = detail.filter((pl.col("code") == BM) & (pl.col("instantane") == "2024-03")).row(0, named=True)
    assert bm["annonces"].sum() == row["logements_entiers"]
    assert bm.filter(pl.col("ordre") >= 5)["annonces"].sum() == row["entiers_plus_120_nuits"]


def test_median_price_is_computed_not_averaged(located, ind):
    bdx = located.filter((pl.col("instantane") == "2021-12") & (pl.col("code_commune") == "33063"))
    assert val(ind, "commune", "33063", "str_prix_median", "2021-12") == bdx["price"].median()
    bm = located.filter((pl.col("instantane") == "2024-03") & (pl.col("ville") == "bordeaux")
                        & pl.col("code_commune").is_in(
                            located.filter(pl.col("ville") == "bordeaux")["code_commune"].unique().implode()))
    assert bm["price"].null_count() > 3_000  # a third of the 2024 prices are empty: medians use the others


def test_points_table_keeps_ids_exact_and_is_small(mirror, data_dir):
    points = pl.read_parquet(data_dir / "locations" / "annonces.parquet")
    assert points.schema["id"] == pl.String
    with open(mirror / "insideairbnb/france/auvergne-rhone-alpes/lyon/2024-03/visualisations/listings.csv",
              encoding="utf-8", newline="") as fh:
        raw = {r["id"]: r["name"] for r in csv.DictReader(fh)}
    lyon = points.filter((pl.col("ville") == "lyon") & (pl.col("instantane") == "2024-03"))
    assert lyon.height == 10_050
    assert set(lyon["id"]) <= set(raw)
    assert all(raw[i] == n for i, n in lyon.select("id", "nom").iter_rows())  # names kept as published
    size = sum(p.stat().st_size for p in (data_dir / "locations").glob("*.parquet"))
    assert size < 6_000_000


def test_listings_in_no_polygon_are_counted(listings, polygons, data_dir):
    """A listing placed at sea is counted (rejected, noted, in the snapshot table), not lost silently."""
    from etl.marts.base import BuildContext
    from etl.marts.locations_courte_duree import MART
    from etl.sources.base import Parsed

    moved = (pl.col("id") == 222887) & (pl.col("instantane") == "2024-03")
    frame = listings.frame.with_columns(
        longitude=pl.when(moved).then(pl.lit(-3.0)).otherwise("longitude"),  # Bay of Biscay
        latitude=pl.when(moved).then(pl.lit(45.0)).otherwise("latitude"),
    )
    parsed = {"insideairbnb": Parsed({"main": frame, "instantanes": listings.tables["instantanes"]}, frame.height),
              "contours": Parsed({"communes": polygons, "main": polygons}, polygons.height)}
    result = MART.build(BuildContext(out_dir=data_dir, progress=False), parsed)
    assert result.rejected["annonce hors de tout contour communal"] == 1
    assert any("bordeaux 2024-03 : 1 annonce(s) hors de tout contour communal" in n for n in result.notes)
    snaps = result.tables["locations/instantanes.parquet"]
    row = snaps.filter((pl.col("ville") == "bordeaux") & (pl.col("instantane") == "2024-03")).row(0, named=True)
    assert (row["hors_contour"], row["hors_perimetre"], row["annonces_retenues"]) == (1, 2, 12_029)
