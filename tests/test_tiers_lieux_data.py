"""Tiers-lieux: the ANCT source, the commune of each place, counts and population coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etl import registry, tiers_lieux_schema
from etl.geo import haversine_km
from etl.marts.tiers_lieux import coverage
from etl.sources.base import FetchContext, fetch

RAW = "tiers-lieux/CGET_TiersLieux_2019.csv"


@pytest.fixture(scope="module")
def raw(mirror) -> pl.DataFrame:
    return pl.read_csv(mirror / RAW, infer_schema=False)


@pytest.fixture(scope="module")
def places(mirror):
    parsed, _ = fetch(registry.sources()["tiers_lieux_anct"], FetchContext(mirror=mirror, raw_dir=Path("/x"),
                                                                           progress=False))
    return parsed


@pytest.fixture(scope="module")
def lieux(data_dir) -> pl.DataFrame:
    return pl.read_parquet(data_dir / "tiers_lieux" / "lieux.parquet")


@pytest.fixture(scope="module")
def ind(data_dir) -> pl.DataFrame:
    return pl.read_parquet(data_dir / "indicateurs" / "tiers_lieux.parquet")


def value(ind: pl.DataFrame, niveau: str, code: str, indicateur: str) -> float | None:
    v = ind.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicateur))
    return v["valeur"][0] if v.height else None


# -- the source ---------------------------------------------------------------------------------------
def test_all_places_parsed(places):
    df = places.frame
    assert df.height == places.rows_read == 1_512
    assert not places.rejected
    assert dict(df.group_by("type").len().iter_rows()) == {"coworking": 1_118, "fablab": 345, "inconnu": 49}
    assert list(df.columns) == list(tiers_lieux_schema.SCHEMA)
    assert df["identifiant"].n_unique() == 1_512
    first = df.filter(pl.col("identifiant") == "anct2019-0001").row(0, named=True)
    assert (first["nom"], first["code_commune_declare"], first["site_web"]) == (
        "ADE Coworking", "44109", "https://www.ade-coworking.net")
    # INSEEMETRO is blank on the 3 places added last: INSEECOM stands in
    assert df.filter(pl.col("identifiant") == "anct2019-1512")["code_commune_declare"].item() == "73248"
    # the literal "NULL" is a missing address, not an address
    assert df.filter(pl.col("adresse") == "NULL").height == 0


def test_personal_columns_are_dropped_at_parse_time(raw, tmp_path):
    """The mirror blanks CONTACT and MAIL; the publisher's file fills them. Fill them and parse."""
    assert raw["CONTACT"].null_count() == raw.height  # blanked in the mirror, as its README says
    filled = raw.with_columns(CONTACT=pl.lit("Jeanne Exemple"), MAIL=pl.lit("jeanne.exemple@example.org"))
    path = tmp_path / "CGET_TiersLieux_2019.csv"
    filled.write_csv(path, quote_style="necessary")
    parsed = registry.sources()["tiers_lieux_anct"].parse({"main": path}, FetchContext(mirror=None, raw_dir=tmp_path))
    text = parsed.frame.select(pl.all().cast(pl.String)).to_pandas().to_csv()
    assert "Jeanne" not in text and "example.org" not in text
    assert not {"CONTACT", "MAIL", "TWITTER", "FACEBOOK"} & set(parsed.frame.columns)


def test_no_personal_data_in_any_output(data_dir, raw, lieux):
    personal = ("contact", "mail", "telephone", "prenom", "twitter", "facebook")
    outputs = [*sorted((data_dir / "tiers_lieux").glob("*.parquet")), data_dir / "indicateurs" / "tiers_lieux.parquet"]
    for path in outputs:
        df = pl.read_parquet(path)
        assert not [c for c in df.columns if any(w in c.lower() for w in personal)], path
    # one row of the file has a person's name typed in the website column: it is not kept
    assert raw.filter(pl.col("WEB") == "Madame PATTE-AUBOURG").height == 1
    assert lieux.filter(pl.col("site_web").str.contains("PATTE")).height == 0
    assert lieux["site_web"].drop_nulls().str.contains(r"^https?://").all()


@pytest.mark.parametrize(("published", "kept"), [
    ("www.ade-coworking.net", "https://www.ade-coworking.net"),
    ("https://atelier-d-cales.jimdo.com|site web", "https://atelier-d-cales.jimdo.com"),
    ("Innovation studio\xa0http://theschoolab.com/", "http://theschoolab.com/"),
    ("Madame PATTE-AUBOURG", None),
    ("en cours", None),
    ("javascript:alert(1)", None),
])
def test_web_addresses(published, kept):
    assert tiers_lieux_schema.web_address(published) == kept


# -- the commune of each place --------------------------------------------------------------------------
def test_counts_checked_against_the_raw_file(raw, ind, lieux):
    for code, name, expected in (("44109", "Nantes", 27), ("75056", "Paris", 214), ("23077", "Faux-la-Montagne", 1)):
        by_hand = raw.filter(pl.col("INSEEMETRO") == code).height
        assert by_hand == expected, name
        assert value(ind, "commune", code, "tiers_lieux") == expected, name
        assert lieux.filter(pl.col("code_commune") == code).height == expected, name
    assert lieux.filter(pl.col("code_commune") == "23077")["nom"].to_list() == ["TAF"]
    # a commune without any place has 0, not "no data"
    assert value(ind, "commune", "23076", "tiers_lieux") == 0
    assert value(ind, "france", "FR", "tiers_lieux") == 1_512


def test_arrondissements_add_up_to_their_city(ind):
    paris_arr = ind.filter((pl.col("niveau") == "arrondissement") & pl.col("code").str.starts_with("751")
                           & (pl.col("indicateur") == "tiers_lieux"))
    assert paris_arr.height == 20
    assert paris_arr["valeur"].sum() == 214
    lyon = ind.filter((pl.col("niveau") == "arrondissement") & pl.col("code").str.starts_with("6938")
                      & (pl.col("indicateur") == "tiers_lieux"))["valeur"].sum()
    assert lyon == value(ind, "commune", "69123", "tiers_lieux") == 79


def test_declared_commune_checked_against_coordinates(data_dir, lieux):
    cases = dict(lieux.group_by("origine_commune").len().iter_rows())
    assert cases == {"code declare": 1_491, "code declare (desaccord)": 7, "code declare (hors contours)": 1,
                     "coordonnees (code corrige)": 13}
    # the six overseas places the file gives to Maripasoula (97353) or Bonifacio (2A041) are moved
    assert lieux.filter(pl.col("code_commune").is_in(["97353", "2A041"])).height == 0
    assert lieux.filter(pl.col("code_commune_declare").is_in(["97353", "2A041"])).height == 6
    jarry = lieux.filter(pl.col("nom") == "Le Fablab de Jarry").row(0, named=True)
    assert (jarry["code_commune"], jarry["code_departement"]) == ("97103", "971")
    # "1 Place de Verdun 78220 Viroflay": the address and the coordinates agree against INSEEMETRO (Chaville)
    burolab = lieux.filter(pl.col("nom") == "BUROL@B").row(0, named=True)
    assert (burolab["code_commune_declare"], burolab["code_commune"]) == ("92022", "78686")
    # Eysines: the coordinates fall in Bordeaux, the address says Eysines: the declared code stays
    eysi = lieux.filter(pl.col("nom") == "Eysi'work").row(0, named=True)
    assert (eysi["code_commune"], eysi["code_commune_coordonnees"]) == ("33162", "33063")
    manifest = (data_dir / "manifest.json").read_text(encoding="utf-8")
    assert "coordonnees (code corrige) : 13" in manifest


# -- coverage -------------------------------------------------------------------------------------------
def test_coverage_on_a_hand_made_case():
    """One place at (2°E, 45°N); communes due north at 5, 15 and 25 km, one with no centre."""
    km_per_degree = haversine_km(2.0, 45.0, 2.0, 46.0)
    centres = pl.DataFrame({
        "code": ["a", "b", "c", "d"],
        "longitude": [2.0, 2.0, 2.0, None],
        "latitude": [45 + 5 / km_per_degree, 45 + 15 / km_per_degree, 45 + 25 / km_per_degree, None],
        "population": [100, 1_000, 10_000, 7],
    }, schema_overrides={"longitude": pl.Float64, "latitude": pl.Float64})
    places = pl.DataFrame({"identifiant": ["p1", "p2"], "longitude": [2.0, -1.0], "latitude": [45.0, 48.0]})
    out = coverage(centres, places).sort("code")
    assert out["distance_km"].to_list()[:3] == pytest.approx([5.0, 15.0, 25.0], abs=0.01)
    assert out["identifiant_proche"].to_list() == ["p1", "p1", "p1", None]
    assert out["population_10km"].to_list() == [100, 0, 0, None]
    assert out["population_20km"].to_list() == [100, 1_000, 0, None]
    assert out["population_mesuree"].to_list() == [100, 1_000, 10_000, None]
    # the share of a territory made of these communes: 100 / 11,100 within 10 km, 1,100 / 11,100 within 20 km
    assert out["population_10km"].sum() / out["population_mesuree"].sum() == pytest.approx(100 / 11_100)


@pytest.fixture(scope="module")
def exact_km(territoires, lieux) -> pl.DataFrame:
    """Every commune centre's exact distance to its nearest place, by brute force (chunks of 2,000 communes)."""
    com = territoires.filter(pl.col("niveau") == "commune").drop_nulls("longitude").select(
        "code", "population", "longitude", "latitude")
    lon, lat = lieux["longitude"].to_numpy()[None, :], lieux["latitude"].to_numpy()[None, :]
    out = []
    for part in com.iter_slices(2_000):
        d = haversine_km(part["longitude"].to_numpy()[:, None], part["latitude"].to_numpy()[:, None], lon, lat)
        out.append(part.select("code", "population").with_columns(d=pl.Series(d.min(axis=1))))
    return pl.concat(out)


def test_coverage_shares_are_population_weighted(exact_km, ind):
    """France's share within 10 km = population of communes whose centre is within 10 km / population."""
    assert exact_km.height == 34_875 - 8  # the 8 communes without polygon have no centre
    for r in (10, 20):
        expected = exact_km.filter(pl.col("d") <= r)["population"].sum() / exact_km["population"].sum() * 100
        assert value(ind, "france", "FR", f"part_pop_{r}km_tiers_lieu") == pytest.approx(expected)
    # a commune is all in or all out
    assert set(ind.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "part_pop_10km_tiers_lieu"))
               ["valeur"].unique().to_list()) == {0.0, 100.0}
    assert value(ind, "commune", "75056", "part_pop_10km_tiers_lieu") == 100.0
    # Mayotte has no listed place: its nearest is in La Réunion, 1,400 km away
    assert value(ind, "commune", "97611", "distance_tiers_lieu_km") > 1_300


def test_radius_tested_on_the_exact_distance_not_the_rounded_one(exact_km, ind):
    """Issue #11, point 7: a centre at 10.002 km displays as 10.00 km but is not within 10 km."""
    edge = exact_km.filter(((pl.col("d") > 10) & (pl.col("d") < 10.005)) | ((pl.col("d") > 20) & (pl.col("d") < 20.005)))
    assert edge.height >= 5  # Notre-Dame-de-Mésage (38279) is 10.002 km from its nearest place, among others
    for code, d in edge.select("code", "d").iter_rows():
        assert round(d, 2) <= (10 if d < 15 else 20)  # what the rounded test counted as covered
        radius = 10 if d < 15 else 20
        assert value(ind, "commune", code, f"part_pop_{radius}km_tiers_lieu") == 0.0, code
        assert value(ind, "commune", code, "distance_tiers_lieu_km") == pytest.approx(round(d, 2))


def test_nearest_distance_matches_a_brute_force_check(territoires, lieux, ind):
    sample = territoires.filter(pl.col("niveau") == "commune").drop_nulls("longitude").sample(200, seed=5)
    brute = haversine_km(sample["longitude"].to_numpy()[:, None], sample["latitude"].to_numpy()[:, None],
                         lieux["longitude"].to_numpy()[None, :], lieux["latitude"].to_numpy()[None, :]).min(axis=1)
    got = sample.select("code").join(
        ind.filter((pl.col("niveau") == "commune") & (pl.col("indicateur") == "distance_tiers_lieu_km")),
        on="code", how="left", maintain_order="left")["valeur"].to_numpy()
    assert np.allclose(got, brute, atol=0.006)  # stored to the 10 m


def test_rates_recomputed_from_sums(ind, territoires):
    dep = territoires.filter((pl.col("niveau") == "departement") & (pl.col("code") == "23")).row(0, named=True)
    assert value(ind, "departement", "23", "tiers_lieux") == 9
    assert value(ind, "departement", "23", "tiers_lieux_pour_10000_hab") == pytest.approx(9 / dep["population"] * 1e4)

