"""The territory mart: sums up the levels, rates recomputed, former codes kept, nulls stay null."""

from __future__ import annotations

import polars as pl
import pytest

from etl.cog import harmonise_communes
from etl.levels import roll_up


def _one(t: pl.DataFrame, niveau: str, code: str) -> dict:
    return t.filter((pl.col("niveau") == niveau) & (pl.col("code") == code)).row(0, named=True)


def test_levels_present(territoires):
    counts = dict(territoires.group_by("niveau").len().iter_rows())
    assert counts == {"commune": 34_875, "arrondissement": 45, "epci": 1_255, "departement": 101, "region": 18,
                      "france": 1}


def test_departement_population_is_sum_of_communes(territoires):
    communes = territoires.filter(pl.col("niveau") == "commune")
    gironde = communes.filter(pl.col("code_departement") == "33")["population"].sum()
    assert _one(territoires, "departement", "33")["population"] == gironde == 1_690_493
    assert _one(territoires, "france", "FR")["population"] == communes["population"].sum() == 68_350_798
    # the published EPCI figure is not used: the EPCI is the sum of its communes
    bm = communes.filter(pl.col("code_epci") == "243300316")["population"].sum()
    assert _one(territoires, "epci", "243300316")["population"] == bm


def test_rates_are_recomputed_not_averaged(territoires):
    communes = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    dep = _one(territoires, "departement", "33")
    expected = communes["residences_secondaires"].sum() / communes["logements"].sum() * 100
    assert dep["part_residences_secondaires"] == pytest.approx(expected)
    assert dep["part_residences_secondaires"] != pytest.approx(communes["part_residences_secondaires"].mean())
    assert dep["densite_hab_km2"] == pytest.approx(dep["population"] / communes["superficie_km2"].sum())


def test_surfaces_from_polygons(territoires):
    # Paris is 105.4 km² (IGN); the simplified polygons give within 1%
    assert _one(territoires, "commune", "75056")["superficie_km2"] == pytest.approx(105.4, rel=0.01)
    # Guyane (973) is about 83,800 km²: the equal-area projection works overseas too
    assert _one(territoires, "departement", "973")["superficie_km2"] == pytest.approx(83_800, rel=0.02)
    # communes created in 2025-2026 have no polygon: unknown surface, never 0
    assert _one(territoires, "commune", "49126")["superficie_km2"] is None
    assert _one(territoires, "commune", "49126")["densite_hab_km2"] is None


def test_housing_former_codes_are_summed_not_dropped(parsed_reference, territoires):
    housing = parsed_reference["insee_logement"].frame
    arr_codes = parsed_reference["arrondissements"].frame["code"]
    total_file = housing.filter(~pl.col("code").is_in(arr_codes.implode()))["logements"].sum()
    total_mart = territoires.filter(pl.col("niveau") == "commune")["logements"].sum()
    assert total_mart == total_file  # nothing lost on the way, arrondissements not added twice
    # 01003 (Amareins) merged into 01165 (Francheleins): both rows of 2021 add up in 01165
    both = housing.filter(pl.col("code").is_in(["01003", "01165"]))["logements"].sum()
    assert _one(territoires, "commune", "01165")["logements"] == both


def test_paris_arrondissements_kept_apart(territoires):
    paris = _one(territoires, "commune", "75056")
    arr = territoires.filter((pl.col("niveau") == "arrondissement") & (pl.col("code_commune") == "75056"))
    assert arr.height == 20
    assert paris["logements"] == 1_396_753
    assert arr["logements"].sum() == pytest.approx(paris["logements"], rel=0.001)
    assert _one(territoires, "arrondissement", "75101")["code_epci"] == "200054781"


def test_mayotte_has_no_housing_not_zero(territoires):
    mayotte = _one(territoires, "departement", "976")
    assert mayotte["population"] > 0
    assert mayotte["logements"] is None
    assert mayotte["part_residences_secondaires"] is None


def test_harmonise_on_a_hand_made_case():
    df = pl.DataFrame({"code": ["01001", "01003", "01165", "75101", "75102", "75056", "99999"],
                       "n": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 5.0]})
    passage = pl.DataFrame({"code_ancien": ["01003"], "code_actuel": ["01165"]})
    arr = pl.DataFrame({"code": ["75101", "75102"], "code_commune": ["75056", "75056"]})
    sep = harmonise_communes(df, code_col="code", sum_cols=["n"], passage=passage,
                             communes=["01001", "01165", "75056"], arrondissements=arr)
    assert dict(sep.communes.iter_rows()) == {"01001": 1.0, "01165": 5.0, "75056": 30.0}
    assert dict(sep.arrondissements.iter_rows()) == {"75101": 10.0, "75102": 20.0}
    assert sum(sep.rejected.values()) == 1
    rolled = harmonise_communes(df.filter(pl.col("code") != "75056"), code_col="code", sum_cols=["n"],
                                passage=passage, communes=["01001", "01165", "75056"], arrondissements=arr,
                                arrondissement_mode="rollup")
    assert dict(rolled.communes.iter_rows())["75056"] == 30.0


def test_roll_up_keeps_null_when_no_commune_has_data():
    communes = pl.DataFrame({"code": ["a", "b", "c"], "code_epci": ["e1", "e1", "e2"],
                             "code_departement": ["d", "d", "d"], "code_region": ["r", "r", "r"]})
    values = pl.DataFrame({"code_commune": ["a", "b", "c"], "x": [1.0, 2.0, None]})
    out = roll_up(values, communes, ["x"])
    got = {(n, c): v for n, c, v in out.iter_rows()}
    assert got[("epci", "e1")] == 3.0
    assert got[("epci", "e2")] is None
    assert got[("departement", "d")] == 3.0
    assert got[("france", "FR")] == 3.0


# -- issue #11: density over the same communes (point 6), housing 2021 in the 2026 geography (point 8) --
def _mirror_communes(mirror) -> pl.DataFrame:
    import json

    rows = json.loads((mirror / "geo-api-gouv" / "communes.json").read_text(encoding="utf-8"))
    return pl.DataFrame([{"code": c["code"], "nom": c["nom"], "code_epci": c.get("codeEpci"),
                          "code_departement": c["codeDepartement"], "population": c.get("population") or 0,
                          "codes_postaux": c.get("codesPostaux") or []} for c in rows])


def test_parent_density_divides_the_population_of_the_communes_that_have_a_surface(territoires, mirror):
    """Mauges Communauté holds Orée d'Anjou, which has no polygon: its density was 16 % too high."""
    communes = _mirror_communes(mirror).filter(pl.col("code_epci") == "200060010")
    surfaces = territoires.filter(pl.col("niveau") == "commune").select("code", "superficie_km2")
    mauges = communes.join(surfaces, on="code")
    without = mauges.filter(pl.col("superficie_km2").is_null())
    assert without["code"].to_list() == ["49126"]  # Orée d'Anjou
    with_area = mauges.filter(pl.col("superficie_km2").is_not_null())
    expected = with_area["population"].sum() / with_area["superficie_km2"].sum()
    epci = _one(territoires, "epci", "200060010")
    assert epci["densite_hab_km2"] == pytest.approx(expected)
    assert epci["population"] / epci["superficie_km2"] > expected * 1.15  # the old, wrong figure
    # a parent whose communes all have a polygon is unchanged: population / surface
    gironde = _one(territoires, "departement", "33")
    assert gironde["densite_hab_km2"] == pytest.approx(gironde["population"] / gironde["superficie_km2"])


def test_communes_whose_2021_dwellings_are_elsewhere_are_flagged(territoires, mirror, data_dir):
    """Communes re-created since 2021 have no dwellings; the commune that held them has too many."""
    communes = _mirror_communes(mirror)
    housing = pl.read_csv(mirror / "insee-logement" / "base-cc-logement-2021-extrait.csv", separator=";",
                          schema_overrides={"CODGEO": pl.String})
    passage = pl.read_csv(mirror / "cog-passage" / "passage-codes-communes-cog2026.csv", separator=";",
                          infer_schema=False)
    in_file = set(housing["CODGEO"]) | set(passage.filter(pl.col("code_ancien").is_in(housing["CODGEO"].implode()))
                                           ["code_2026"])
    covered = {c[:3] if c.startswith("97") else c[:2] for c in housing["CODGEO"]}
    orphans = communes.filter((pl.col("population") > 0) & ~pl.col("code").is_in(list(in_file))
                              & pl.col("code_departement").is_in(list(covered)))
    assert sorted(orphans["code"]) == ["15031", "15035", "15047", "15171", "60694", "85165", "85212"]
    # the holder of L'Oie's and Sainte-Florence's dwellings: the commune of their EPCI and postal code with the
    # most main residences per inhabitant
    rp = housing.select(pl.col("CODGEO").alias("code"), pl.col("P21_RP").alias("rp"))
    near = communes.explode("codes_postaux").filter(
        (pl.col("codes_postaux") == "85140") & (pl.col("code_epci") == "200071918")).unique("code").join(rp, on="code")
    holder = near.with_columns(r=pl.col("rp") / pl.col("population")).sort("r", descending=True)["code"][0]
    assert holder == "85084"
    # and communes with more main residences than 0.9 per inhabitant (a household has a person at least)
    high = communes.join(rp, on="code").filter((pl.col("population") >= 50) & (pl.col("rp") > 0.9 * pl.col("population")))
    expected = set(orphans["code"]) | {holder} | set(high["code"])
    assert expected == {"15031", "15035", "15047", "15141", "15171", "60054", "60694", "85084", "85165", "85212"}
    flagged = territoires.filter(pl.col("note_logements").is_not_null())
    assert set(flagged["code"]) == expected
    assert "Essarts-en-Bocage (85084)" in _one(territoires, "commune", "85165")["note_logements"]
    assert "L'Oie (85165) et Sainte-Florence (85212)" in _one(territoires, "commune", "85084")["note_logements"]
    # their housing figures are out of `indicateurs`, and the figure the pages show says why
    rows = pl.read_parquet(data_dir / "indicateurs" / "territoires.parquet")
    assert rows.filter(pl.col("code").is_in(list(expected)) & pl.col("indicateur").is_in(
        ["logements", "part_residences_secondaires"]) & (pl.col("niveau") == "commune")).height == 0
    current = pl.read_parquet(data_dir / "valeurs" / "courantes.parquet").filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "85084") & (pl.col("indicateur") == "part_residences_secondaires"))
    assert current["valeur"].item() is None and "surévalués" in current["raison"].item()
    # the parents' sums are right: the EPCI holds them all
    epci = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_epci") == "200071918"))
    assert _one(territoires, "epci", "200071918")["logements"] == epci["logements"].sum()
