"""The extract builder's logic (`etl.export`): selection, errors, round trips, wide layout, sources."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from etl import export
from etl import periods as etl_periods
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
    (Request("commune", indicateurs=("population", "indicateur_inexistant")),
     r"indicateur inconnu du catalogue : indicateur_inexistant$"),
    (Request("commune", indicateurs=("populaton",)), r"populaton \(vouliez-vous dire population \?\)"),
    (Request("commune", periodes=("1850",)), r"au niveau commune : 1850 \(périodes disponibles : "),
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


def test_unknown_period_lists_those_available(data_dir, indicateurs):
    """The periods offered are those of the level (and of the indicators asked), in chronological order."""
    communes = indicateurs.filter(pl.col("niveau") == "commune")
    periods = etl_periods.sort(communes["periode"].unique().to_list())  # a year after its December
    shown = ", ".join(periods[:12]) + (" …" if len(periods) > 12 else "")
    with pytest.raises(ExportError) as err:
        export.plan(Request("commune", periodes=("1850",)), data_dir)
    assert str(err.value) == ("période sans donnée pour ces indicateurs au niveau commune : 1850 "
                              f"(périodes disponibles : {shown})")
    # short-term rentals are snapshots (2024-03...): a year they do not have lists them all
    snapshots = etl_periods.sort(communes.filter(pl.col("indicateur") == "str_annonces")["periode"].unique().to_list())
    assert snapshots and all(len(s) == 7 for s in snapshots)
    with pytest.raises(ExportError, match=rf"1850 \(périodes disponibles : {', '.join(snapshots)}\)$"):
        export.plan(Request("commune", indicateurs=("str_annonces",), periodes=("1850",)), data_dir)


def test_a_year_selects_the_snapshots_of_that_year(data_dir, territoires, indicateurs):
    """`--periode 2024` on short-term rentals takes the 2024 snapshot(s) (2024-03): the issue's example."""
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    p = export.plan(Request("commune", parent="33", indicateurs=("str_annonces",), periodes=("2024",),
                            format="parquet"), data_dir)
    expected = _cut(indicateurs, "commune", gironde["code"].to_list(), ["str_annonces"], ["2024"])
    assert expected.height > 0 and all(x.startswith("2024-") for x in expected["periode"])  # monthly snapshots
    got = _read(p)
    assert got.select(CONTRACT).equals(expected) and p.rows == expected.height
    assert p.filename == "extrait_communes_33_str_annonces_2024.parquet"
    assert p.warnings == []


def test_levels_are_forgiving():
    assert export.normalise_level("Départements") == "departement"
    assert export.normalise_level("EPCI") == "epci"
    assert export.split_list("33063, 33281;33318\n33522") == ("33063", "33281", "33318", "33522")


# -- wide layout --------------------------------------------------------------------------------

def _expected_wide_names(cut: pl.DataFrame) -> set[str]:
    """The documented naming rule, applied to the long rows: `<indicateur>_<periode>`, then
    `_<source>` when two sources share the indicator and period, `_<nature>` when all the column's
    values are estimated or simulated, and a `_nature` companion when its nature varies."""
    names = set()
    groups = cut.group_by("indicateur", "periode", "source").agg(pl.col("nature").unique())
    n_src = groups.group_by("indicateur", "periode").len()
    for r in groups.join(n_src, on=["indicateur", "periode"]).iter_rows(named=True):
        name = f"{r['indicateur']}_{r['periode'].replace('-', '_')}"
        if r["len"] > 1:
            name += f"_{r['source']}"
        if len(r["nature"]) > 1:
            names.add(f"{name}_nature")
        elif r["nature"][0] != "reel":
            name += f"_{r['nature'][0]}"
        names.add(name)
    return names


def test_wide_round_trip_on_real_data(data_dir, indicateurs):
    """The wide file and its dictionary give back every long row: value, period, source and nature."""
    p = export.plan(Request("epci", parent="33", layout="wide", format="parquet"), data_dir)
    got = _read(p)
    assert got.height == p.territories.height == 28  # one row per EPCI, with or without data
    expected = _cut(indicateurs, "epci", p.territories["code"].to_list())
    assert got.columns[:3] == ["niveau", "code", "nom"]
    assert set(got.columns[3:]) == _expected_wide_names(expected)
    assert len(got.columns) == len(set(got.columns))  # no two columns under one name
    # names readable by hand, of three domains
    assert {"population_2023", "str_annonces_2024_03", "str_nuitees_estimees_2024_03_estime",
            "vtc_equipements_2018_estime"} <= set(got.columns)

    d = export.dictionary(p)
    value_cols = d.filter(pl.col("indicateur") != "", ~pl.col("colonne").str.ends_with("_nature"))
    back = (
        got.unpivot(index=["niveau", "code"], on=value_cols["colonne"].to_list(), variable_name="colonne",
                    value_name="valeur")
        .drop_nulls("valeur")
        .join(value_cols.select("colonne", "indicateur", "periode", "source", "nature"), on="colonne")
    )
    assert (back["nature"].is_in(["reel", "estime", "simule"])).all()  # no mixed column in these data
    assert back.select(CONTRACT).sort(KEYS).equals(expected)
    bm = got.filter(pl.col("code") == "243300316").row(0, named=True)
    assert bm["nom"] == "Bordeaux Métropole" and bm["str_annonces_2024_03"] == expected.filter(
        (pl.col("code") == "243300316") & (pl.col("indicateur") == "str_annonces")
        & (pl.col("periode") == "2024-03"))["valeur"].item()
    pop = d.filter(pl.col("colonne") == "population_2023").row(0, named=True)
    assert (pop["nature"], pop["source"], pop["unite"]) == ("reel", "communes", "habitants")


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


def test_dictionary_describes_every_column_and_indicator(data_dir, indicateurs):
    p = export.plan(Request("commune", parent="33"), data_dir)
    d = export.dictionary(p)
    assert d["colonne"].to_list()[:10] == list(export.LONG_COLUMNS)
    per_indicator = d.filter(pl.col("indicateur") != "")
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet")
    assert sorted(per_indicator["indicateur"].to_list()) == sorted(catalogue["indicateur"].to_list())
    assert per_indicator.filter(pl.col("indicateur") == "logements")["periode"].item() == "2021"
    # a span of periods, from the rows of the selection
    gironde = export.plan(Request("commune", parent="33", indicateurs=("str_annonces",)), data_dir)
    snapshots = sorted(_cut(indicateurs, "commune", gironde.territories["code"].to_list(),
                            ["str_annonces"])["periode"].unique().to_list())
    row = per_indicator.filter(pl.col("indicateur") == "str_annonces").row(0, named=True)
    assert row["periode"] == f"{snapshots[0]} à {snapshots[-1]}" and row["unite"] == "annonces"
    assert row["source"] == "insideairbnb" and row["licence"].startswith("CC BY 4.0")
    assert row["licence"] == catalogue.filter(pl.col("indicateur") == "str_annonces")["licence"].item()
    meta = export.metadata(p)
    assert json.loads(meta["observatoire:dictionnaire"]) == d.to_dicts()


def _check_greedy(sizes: list[int], first_of_next: list[int], bound: int) -> None:
    """Every batch within the bound, and none cut before it had to be (or the bound is no bound)."""
    assert max(sizes) <= bound
    for size, nxt in zip(sizes, first_of_next, strict=False):
        assert size + nxt > bound


def test_batches_are_bounded_and_sorted(data_dir, monkeypatch, indicateurs):
    """Small batches give the same file: the writer never needs the whole extract at once.

    The bound holds whatever the territories weigh: a commune with every short-term rental figure
    has ten times the rows of most communes, and a cut on the average row count overflows."""
    monkeypatch.setattr(export, "BATCH_ROWS", 20_000)  # 38 batches of the 750,000 commune rows
    p = export.plan(Request("commune", format="parquet"), data_dir)
    per_code = dict(indicateurs.filter(pl.col("niveau") == "commune").group_by("code").len().iter_rows())
    assert p.territory_rows.to_list() == [per_code.get(c, 0) for c in p.territories["code"]]
    assert max(per_code.values()) > 2 * p.rows / p.territories.height  # uneven: the case that overflowed
    batches = list(export.batches(p))
    sizes = [b.height for b in batches]
    assert sum(sizes) == p.rows and len(sizes) >= -(-p.rows // 20_000)
    _check_greedy(sizes, [per_code[b["code"][0]] for b in batches[1:]], 20_000)
    got = _read(p)
    assert got["code"].is_sorted()
    assert got.select(CONTRACT).equals(_cut(indicateurs, "commune"))


def test_wide_batches_are_bounded_in_cells(data_dir, monkeypatch):
    monkeypatch.setattr(export, "BATCH_CELLS", 20_000)
    p = export.plan(Request("epci", layout="wide", format="parquet"), data_dir)
    per_batch = 20_000 // len(p.columns)
    sizes = [b.height for b in export.batches(p)]
    assert sizes == [per_batch] * (len(sizes) - 1) + [sizes[-1]] and sum(sizes) == p.territories.height
    assert max(sizes) * len(p.columns) <= 20_000
    assert _read(p)["code"].to_list() == p.territories["code"].to_list()
