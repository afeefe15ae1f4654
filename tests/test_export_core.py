"""The extract builder's logic (`etl.export`): selection, errors, round trips, wide layout, sources."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from etl import export
from etl.export import ExportError, Request
from tests.export_helpers import build

CONTRACT = ["niveau", "code", "indicateur", "periode", "valeur", "nature", "source"]
KEYS = ["niveau", "code", "indicateur", "periode", "source"]


@pytest.fixture(scope="module")
def indicateurs(data_dir) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in export.indicator_files(data_dir)])


@pytest.fixture
def demo(tmp_path):
    return build(tmp_path / "demo")


def _cut(indicateurs: pl.DataFrame, niveau: str, codes: list[str] | None = None, ids: list[str] | None = None,
         prefixes: list[str] | None = None) -> pl.DataFrame:
    df = indicateurs.filter(pl.col("niveau") == niveau)
    if codes is not None:
        df = df.filter(pl.col("code").is_in(codes))
    if ids is not None:
        df = df.filter(pl.col("indicateur").is_in(ids))
    if prefixes is not None:
        df = df.filter(export.period_filter(prefixes))
    return df.select(CONTRACT).sort(KEYS)


def _read(p: export.Plan) -> pl.DataFrame:
    buf = io.BytesIO()
    export.write(p, buf)
    buf.seek(0)
    return pl.read_parquet(buf)


# -- selection ----------------------------------------------------------------------------------

def test_parent_departement_selects_its_communes(data_dir, territoires, indicateurs):
    p = export.plan(Request("commune", parent="33", format="parquet"), data_dir)
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    assert p.territories["code"].to_list() == sorted(gironde["code"].to_list())
    assert p.scope == "Communes du département Gironde (33)"
    got = _read(p)
    expected = _cut(indicateurs, "commune", gironde["code"].to_list())
    assert p.rows == got.height == expected.height
    assert got.select(CONTRACT).equals(expected)  # round trip: the rows it was cut from, exactly
    # values readable by hand: Bordeaux and the département's total
    bordeaux = got.filter((pl.col("code") == "33063") & (pl.col("indicateur") == "population"))
    assert bordeaux["valeur"].item() == 267_991 and bordeaux["nom"].item() == "Bordeaux"
    assert got.filter(pl.col("indicateur") == "population")["valeur"].sum() == 1_690_493


def test_epci_belong_to_their_main_departement(data_dir, territoires):
    """An EPCI spanning two départements is listed once, under the one holding most of its population."""
    epci = territoires.filter(pl.col("niveau") == "epci")
    in_33 = export.plan(Request("epci", parent="departement:33"), data_dir).territories["code"].to_list()
    assert in_33 == sorted(epci.filter(pl.col("code_departement") == "33")["code"].to_list())
    spanning = epci.filter(pl.col("codes_departements").list.len() > 1)
    assert spanning.height > 0
    total = 0
    for dep in territoires.filter(pl.col("niveau") == "departement")["code"].to_list():
        codes = export.plan(Request("epci", parent=f"departement:{dep}", indicateurs=("population",)),
                            data_dir).territories["code"].to_list()
        total += len(codes)
    assert total == epci.height == 1_255  # a partition of France: nothing twice, nothing lost


def test_region_parent_and_ambiguous_code(data_dir, territoires):
    p = export.plan(Request("departement", parent="region:75"), data_dir)
    assert p.territories.height == 12  # Nouvelle-Aquitaine's départements
    with pytest.raises(ExportError, match=r"ambigu.*region:75.*departement:75"):
        export.plan(Request("commune", parent="75"), data_dir)
    paris = export.plan(Request("arrondissement", parent="commune:75056"), data_dir)
    assert paris.territories.height == 20


def test_whole_level_and_codes(data_dir, indicateurs):
    p = export.plan(Request("departement", indicateurs=("population",)), data_dir)
    assert p.whole_level and p.territories.height == 101 and p.rows == 101
    one = export.plan(Request("commune", codes=("2a004",), periodes=("2023",), format="parquet"), data_dir)
    assert one.territories["code"].to_list() == ["2A004"]  # Corsica's letter, upper case
    got = _read(one)
    assert got.select(CONTRACT).equals(_cut(indicateurs, "commune", ["2A004"], prefixes=["2023"]))
    assert one.filename == "extrait_communes_2a004_tous-indicateurs_2023.parquet"


def test_file_names_say_what_they_hold(data_dir):
    p = export.plan(Request("commune", parent="33", indicateurs=("population", "logements"), periodes=("2023",),
                            format="xlsx"), data_dir)
    assert p.filename == "extrait_communes_33_population-logements_2023.xlsx"
    p = export.plan(Request("epci", layout="wide", format="parquet"), data_dir)
    assert p.filename == "extrait_epci_france_tous-indicateurs_toutes-periodes_large.parquet"
    p = export.plan(Request("commune", parent="33", indicateurs=("population", "logements", "densite"),
                            format="geojson", layout="wide"), data_dir)
    assert p.filename == "extrait_communes_33_territoire_toutes-periodes.geojson"


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("request_", "message"), [
    (Request("commune", codes=("33063", "99999")), r"inconnu au niveau commune : 99999"),
    (Request("commune", codes=("1001",)), r"1001 \(01001 \?\)"),
    (Request("commune", indicateurs=("str_annonces",)), r"inconnu du catalogue : str_annonces"),
    (Request("commune", indicateurs=("populaton",)), r"populaton \(vouliez-vous dire population \?\)"),
    (Request("commune", periodes=("2019",)), r"2019 \(périodes disponibles : 2021, 2023\)"),
    (Request("commune", periodes=("mars 2024",)), r"période mal écrite : mars 2024"),
    (Request("canton"), r"niveau inconnu : « canton »"),
    (Request("commune", parent="999"), r"parent inconnu : « 999 »"),
    (Request("departement", parent="epci:243300316"), r"n'est pas d'un niveau supérieur"),
    (Request("commune", format="pdf"), r"format inconnu : « pdf »"),
    (Request("commune", format="geojson"), r"disposition large"),
    (Request("commune", codes=("33063",), parent="33"), r"pas les deux"),
])
def test_unknown_things_are_named(data_dir, request_, message):
    with pytest.raises(ExportError, match=message):
        export.plan(request_, data_dir)


def test_levels_are_forgiving():
    assert export.normalise_level("Départements") == "departement"
    assert export.normalise_level("EPCI") == "epci"
    assert export.split_list("33063, 33281;33318\n33522") == ("33063", "33281", "33318", "33522")


# -- wide layout --------------------------------------------------------------------------------

def test_wide_round_trip_on_real_data(data_dir, indicateurs):
    p = export.plan(Request("epci", parent="33", layout="wide", format="parquet"), data_dir)
    got = _read(p)
    assert got.height == p.territories.height == 28  # one row per EPCI, with or without data
    assert got.columns == ["niveau", "code", "nom", "densite_2023", "logements_2021",
                           "part_residences_secondaires_2021", "population_2023"]
    back = (got.unpivot(index=["niveau", "code"], on=got.columns[3:], variable_name="col", value_name="valeur")
            .drop_nulls("valeur")
            .with_columns(indicateur=pl.col("col").str.replace(r"_\d{4}$", ""),
                          periode=pl.col("col").str.extract(r"(\d{4})$")))
    expected = _cut(indicateurs, "epci", p.territories["code"].to_list())
    joined = expected.join(back, on=["niveau", "code", "indicateur", "periode"], how="full", coalesce=True)
    assert joined.height == expected.height and (joined["valeur"] == joined["valeur_right"]).all()
    # nature and source of every column are in the dictionary
    d = export.dictionary(p).filter(pl.col("colonne") == "population_2023").row(0, named=True)
    assert (d["nature"], d["source"], d["unite"]) == ("reel", "communes", "habitants")


def test_wide_names_keep_sources_and_natures_apart(demo):
    p = export.plan(Request("commune", layout="wide", format="parquet"), demo)
    names = [c.name for c in p.columns]
    # two sources of demo_trajets 2024: one column each; the simulated one says so in its name
    assert "demo_trajets_2024_demo_registre" in names
    assert "demo_trajets_2024_demo_modele_simule" in names
    assert "demo_trajets_2024_01" in names  # months are columns of their own
    # demo_solde 2023 mixes reel and estime: a companion column carries each row's nature
    assert "demo_solde_2023" in names and "demo_solde_2023_nature" in names
    got = _read(p)
    row = got.filter(pl.col("code") == "99004").row(0, named=True)
    assert row["demo_solde_2023"] == -0.5 and row["demo_solde_2023_nature"] == "estime"
    assert got.filter(pl.col("code") == "99001")["demo_trajets_2024_demo_modele_simule"].item() == 15.5
    assert got.height == 5  # 99005 has demo_solde only, every territory has its row


def test_year_selects_its_months_and_long_keeps_every_source(demo):
    p = export.plan(Request("commune", codes=("99001",), periodes=("2024",), format="parquet"), demo)
    got = _read(p)
    assert sorted(got["periode"].to_list()) == ["2024", "2024", "2024-01", "2024-02"]
    assert set(zip(got["nature"], got["source"], strict=True)) == {("reel", "demo_registre"), ("simule", "demo_modele")}
    only_jan = export.plan(Request("commune", codes=("99001",), periodes=("2024-01",)), demo)
    assert only_jan.rows == 1


# -- dictionary and sources ---------------------------------------------------------------------

def test_sources_carry_the_attributions_owed(demo):
    p = export.plan(Request("commune", layout="wide", format="geojson"), demo)
    by_name = {s["source"]: s for s in p.sources}
    assert by_name["demo_modele"]["licence"] == "CC BY 4.0"
    assert by_name["demo_registre"]["lignes_rejetees"] == "code commune inconnu : 3"
    assert by_name["demo_registre"]["recupere_le"] == "15 janvier 2026"
    assert "Registre de démonstration, ODbL" in export.attribution(p)
    assert "Démo modèle (CC BY 4.0)" in export.attribution(p)


def test_real_sources_include_the_reference_and_contours(data_dir):
    p = export.plan(Request("commune", parent="33", indicateurs=("logements",), layout="wide", format="geojson"),
                    data_dir)
    roles = {s["source"]: s["role"] for s in p.sources}
    assert roles["insee_logement"] == "source des valeurs"
    assert roles["contours"] in ("utilisée dans le calcul", "contours des territoires")
    assert roles["communes"].startswith(("utilisée", "référentiel"))
    text = export.sources_text(p)
    assert "Insee, recensement de la population 2021" in text and "Licence Ouverte 2.0" in text
    assert "logements_2021 : Logements (2021) [logements]" in text


def test_dictionary_describes_every_column_and_indicator(data_dir):
    p = export.plan(Request("commune", parent="33"), data_dir)
    d = export.dictionary(p)
    assert d["colonne"].to_list()[:10] == list(export.LONG_COLUMNS)
    per_indicator = d.filter(pl.col("indicateur") != "")
    assert sorted(per_indicator["indicateur"].to_list()) == ["densite", "logements", "part_residences_secondaires",
                                                              "population"]
    assert per_indicator.filter(pl.col("indicateur") == "logements")["periode"].item() == "2021"
    meta = export.metadata(p)
    assert json.loads(meta["observatoire:dictionnaire"]) == d.to_dicts()


def test_batches_are_bounded_and_sorted(data_dir, monkeypatch, indicateurs):
    """Small batches give the same file: the writer never needs the whole extract at once."""
    monkeypatch.setattr(export, "BATCH_ROWS", 5_000)
    p = export.plan(Request("commune", format="parquet"), data_dir)
    sizes = [b.height for b in export.batches(p)]
    assert len(sizes) > 20 and max(sizes) <= 5_000 + 4
    got = _read(p)
    assert got["code"].is_sorted()
    assert got.select(CONTRACT).equals(_cut(indicateurs, "commune"))
