"""Pages "Données et téléchargements" and "Dictionnaire et sources": AppTest and Chromium."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import openpyxl
import polars as pl
import pytest

from dashboard import extracts, fmt
from etl import export, registry
from etl.config import data_dir as configured_data_dir
from etl.store import read_manifest

DONNEES = "dashboard/pages/donnees.py"
DICTIONNAIRE = "dashboard/pages/dictionnaire.py"


def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _rows_for(data_dir, niveau: str, codes: list[str]) -> int:
    df = pl.concat([pl.read_parquet(f) for f in export.indicator_files(data_dir)])
    return df.filter((pl.col("niveau") == niveau) & pl.col("code").is_in(codes)).height


def test_donnees_defaults_to_the_selected_territory(app, data_dir, territoires):
    at = app(DONNEES, niveau="departement", code="33")
    assert not at.exception
    assert at.selectbox(key="ext_niveau").value == "commune"
    assert at.radio(key="ext_perimetre_commune").value == "parent"
    assert at.selectbox(key="ext_parent_commune_departement").value == "33"
    gironde = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_departement") == "33"))
    n = _rows_for(data_dir, "commune", gironde["code"].to_list())
    n_ind = pl.read_parquet(data_dir / "catalogue.parquet").height
    assert f"Communes du département Gironde \\(33\\) · {n_ind} indicateurs · périodes : toutes · disposition longue · " \
           f"{fmt.number(n)} lignes" in _texts(at)
    preview = at.dataframe[0].value
    assert list(preview.columns) == list(export.LONG_COLUMNS) and len(preview) == 20
    labels = [b.label for b in at.get("download_button")]
    assert labels[0].startswith("Télécharger (") and labels[1] == "Sources et dictionnaire (.txt)"
    assert "Attribution à reproduire" in _texts(at)


def test_donnees_xlsx_wide_and_geojson(app):
    at = app(DONNEES, niveau="epci", code="243300316")
    assert at.selectbox(key="ext_niveau").value == "commune"
    assert at.selectbox(key="ext_parent_niveau_commune").value == "epci"
    at.radio(key="ext_format").set_value("xlsx").run()
    at.radio(key="ext_layout").set_value("wide").run()
    assert not at.exception
    texts = _texts(at)
    assert "Communes de l'intercommunalité Bordeaux Métropole \\(243300316\\)" in texts
    assert "extrait\\_communes\\_243300316\\_tous-indicateurs\\_toutes-periodes\\_large.xlsx" in texts or \
        "extrait_communes_243300316_tous-indicateurs_toutes-periodes_large.xlsx" in texts
    assert len(at.dataframe[0].value) == 20 and "population_2023" in at.dataframe[0].value.columns
    assert [b.label for b in at.get("download_button")][1:] == []  # no companion: the XLSX holds its sources
    at.radio(key="ext_format").set_value("geojson").run()
    assert not at.exception and at.radio(key="ext_layout_geo").disabled


def test_donnees_list_of_codes_and_bad_code(app):
    at = app(DONNEES, niveau="commune", code="33063")
    at.radio(key="ext_perimetre_commune").set_value("liste").run()
    # a one-line box read as you type (a text area says "Press Ctrl+Enter to apply" in English)
    assert at.text_input(key="ext_codes_communes").value == "33063"
    at.text_input(key="ext_codes_communes").set_value("33063, 69123 99999").run()
    assert not at.exception
    assert "99999" in at.error[0].value and "inconnu" in at.error[0].value
    at.text_input(key="ext_codes_communes").set_value("33063 69123").run()
    assert not at.error and "2 communes choisies" in _texts(at).replace("\\", "")


def test_donnees_indicators_by_domain_and_period(app, data_dir):
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet")
    at = app(DONNEES, niveau="france", code="FR")
    at.selectbox(key="ext_niveau").set_value("region").run()
    at.toggle(key="ext_tout").set_value(False).run()
    assert "Choisir au moins un indicateur" in at.info[0].value
    labels = at.multiselect(key="ext_indicateurs").options
    assert "Territoire › contexte › Densité de population (hab./km²)" in labels
    at.multiselect(key="ext_indicateurs").set_value(["logements"]).run()
    # the figure every page shows first, then the periods of the data
    assert at.multiselect(key="ext_periodes_region").options == [
        "Valeur affichée par l'observatoire (dernière période de chaque indicateur)", "2021"]
    at.multiselect(key="ext_periodes_region").set_value(["2021"]).run()
    assert not at.exception
    assert "Toutes les régions de France · 1 indicateur · périodes : 2021" in _texts(at)
    at.multiselect(key="ext_periodes_region").set_value(["courante"]).run()  # the figures the pages show
    assert "périodes : la valeur affichée de chaque indicateur" in _texts(at)
    # domains in French, in the menu's order: context, collaborative, platforms, composite indices
    domains = at.pills(key="ext_domaines").options
    assert sorted(domains) == sorted(extracts.domain_label(d) for d in catalogue["domaine"].unique())
    assert domains[0] == "Territoire" and "Locations de courte durée" in domains and "Tiers-lieux" in domains
    assert domains.index("Tiers-lieux") < domains.index("Locations de courte durée") < domains.index(
        "Équilibre (indices composites)")
    options = at.multiselect(key="ext_indicateurs").options
    assert [o.split(" › ")[0] for o in options] == sorted((o.split(" › ")[0] for o in options), key=domains.index)
    at.pills(key="ext_domaines").set_value(["territoire", "locations_courte_duree"]).run()
    n = catalogue.filter(pl.col("domaine").is_in(["territoire", "locations_courte_duree"])).height
    assert f"Toutes les régions de France · {n} indicateurs" in _texts(at)
    at.pills(key="ext_domaines").set_value(["territoire"]).run()
    n = catalogue.filter(pl.col("domaine") == "territoire").height
    assert n >= 4 and f"Toutes les régions de France · {n} indicateurs" in _texts(at)  # population, logements…
    assert not at.exception


def test_donnees_big_xlsx_points_to_csv_or_the_command_line(app, data_dir, monkeypatch):
    """A workbook above the XLSX bound (every indicator of every commune takes more than half a
    minute to write) is not made while the page waits: CSV or Parquet, or the command line.
    The bound is scaled down here to the Gironde communes."""
    p = export.plan(export.Request("commune", parent="departement:33", format="xlsx"), data_dir)
    cells = p.rows * len(p.columns)
    monkeypatch.setattr(extracts, "PAGE_MAX_CELLS_XLSX", cells - 1)
    extracts.build.clear()  # files built under the real bound are cached
    try:
        at = app(DONNEES, niveau="departement", code="33")
        at.radio(key="ext_format").set_value("xlsx").run()
        assert not at.exception
        notes = [i.value for i in at.info]
        assert any(f"({fmt.number(cells)} cellules, plus de {fmt.number(cells - 1)})" in n and "CSV ou Parquet" in n
                   for n in notes)
        assert at.get("download_button") == []
        assert at.code[0].value == ("python -m etl export --niveau commune --parent departement:33 --layout long "
                                    "--format xlsx")
        at.radio(key="ext_format").set_value("parquet").run()  # the same extract in Parquet: built
        assert [b.label for b in at.get("download_button")][0].startswith("Télécharger (")
    finally:
        extracts.build.clear()


def test_donnees_france_and_bad_link(app, data_dir):
    at = app(DONNEES, niveau="commune", code="00000")
    assert not at.exception  # an unknown code in the link: France, no traceback
    assert at.selectbox(key="ext_niveau").value == "departement"
    assert at.radio(key="ext_perimetre_departement").value == "france"
    assert "Tous les départements de France" in _texts(at)
    at.selectbox(key="ext_niveau").set_value("france").run()
    n_ind = pl.read_parquet(data_dir / "catalogue.parquet").height
    assert f"France · {n_ind} indicateurs" in _texts(at)


def test_build_bytes_match_the_module(data_dir):
    request = export.Request("departement", indicateurs=("population",), format="xlsx")
    built = extracts.build(request, str(data_dir))
    wb = openpyxl.load_workbook(io.BytesIO(built.content))
    assert wb["données"].max_row == 102
    assert built.command == "python -m etl export --niveau departement --indicateurs population --layout long " \
                            "--format xlsx"


def test_dictionnaire_filters_from_a_link(app, data_dir):
    at = app(DICTIONNAIRE, indicateur="population,densite")
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["Identifiant"]) == ["densite", "population"]
    row = table[table["Identifiant"] == "population"].iloc[0]
    assert row["Unité"] == "habitants" and row["Licence"] == "Licence Ouverte 2.0" and row["Sens"] == "contexte"
    assert row["Périodes"] == "2023" and row["Niveaux"].startswith("commune, arrondissement, epci")
    sources = at.dataframe[1].value
    manifest = extracts.sources_view(read_manifest(data_dir))
    assert len(sources) == manifest.height == len(read_manifest(data_dir)["sources"])
    contours = sources[sources["Source"] == "contours"].iloc[0]
    declared = registry.sources()["contours"]
    assert contours["Adresse en ligne"] == declared.resources_[0].url  # the publisher's, as the source declares it
    assert contours["Provenance"] == declared.provenance  # which address and why
    assert contours["Autres fichiers"] == 3 and contours["Récupéré le"].endswith("2026")


def test_dictionnaire_grouped_by_domain_and_family(app, data_dir):
    catalogue = pl.read_parquet(data_dir / "catalogue.parquet")
    at = app(DICTIONNAIRE)
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["Domaine", "Famille", "Libellé", "Identifiant"]
    assert sorted(table["Identifiant"]) == sorted(catalogue["indicateur"])
    order = [extracts.domain_label(d) for d in extracts.domains(catalogue)]
    runs = [d for k, d in enumerate(table["Domaine"]) if k == 0 or d != table["Domaine"].iloc[k - 1]]
    assert runs == order  # each domain once, in one block, in the menu's order
    assert f"{catalogue.height} indicateurs sur {catalogue.height}, classés par domaine" in _texts(at)
    at.pills(key="dico_domaines").set_value(["tiers_lieux"]).run()
    table = at.dataframe[0].value
    assert sorted(table["Identifiant"]) == sorted(catalogue.filter(pl.col("domaine") == "tiers_lieux")["indicateur"])
    assert set(table["Domaine"]) == {"Tiers-lieux"}


def test_dictionnaire_search_words_and_nothing(app):
    at = app(DICTIONNAIRE, indicateur="résidences secondaires")
    assert sorted(at.dataframe[0].value["Identifiant"]) == ["logements", "part_residences_secondaires"]
    at = app(DICTIONNAIRE, indicateur="zzz")
    assert "Aucun indicateur" in at.info[0].value


def test_simulated_rows_get_a_visible_label(tmp_path):
    from tests.export_helpers import build

    demo = build(tmp_path / "demo")
    built = extracts.build(export.Request("commune", layout="wide", format="xlsx"), str(demo))
    assert built.natures == {"reel": 6, "estime": 1, "simule": 1}
    assert extracts.nature_notice(built.natures, "wide") == (
        "Cet extrait contient des estimations (1 valeur) et des données simulées (1 valeur) : le nom de leur "
        "colonne (…_estime, …_simule) ou une colonne …_nature les signale.")
    assert extracts.nature_notice({"reel": 3}, "long") is None


def test_rejections_listed_by_reason(tmp_path):
    from tests.export_helpers import build

    demo = build(tmp_path / "demo")
    rej = extracts.rejections_view(read_manifest(demo))
    assert rej.rows() == [("lecture de la source", "demo_registre", "code commune inconnu", 3),
                          ("construction du mart", "demo", "valeur négative refusée", 1)]


def test_source_note_links_to_the_dictionary(app):
    from dashboard import layout

    cat = pl.DataFrame({"indicateur": ["a"], "source": ["S"], "licence": ["L"]})
    assert layout.source_note(["a"], cat) == "Source : S (L) · [définitions et sources](dictionnaire?indicateur=a)"
    assert layout.source_note(["a"], cat, link=False) == "Source : S (L)"
    assert layout.source_note(["b"], cat) == ""
    at = app(None, niveau="commune", code="33063")
    assert any("(dictionnaire?indicateur=population,logements,densite)" in c.value for c in at.caption)


@pytest.mark.browser
def test_browser_downloads_an_xlsx(flat_browser, server, tmp_path):
    from tests.conftest import wait_for_app

    page = flat_browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)  # no map to draw
    page.goto(f"{server}/donnees?niveau=departement&code=33")
    wait_for_app(page)
    page.get_by_text("Excel (XLSX)", exact=True).click()
    wait_for_app(page, text="extrait_communes_33_tous-indicateurs_toutes-periodes.xlsx")
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Télécharger").click()
    download = info.value
    assert download.suggested_filename == "extrait_communes_33_tous-indicateurs_toutes-periodes.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["données", "dictionnaire", "sources"]
    rows = list(wb["données"].iter_rows(values_only=True))
    bordeaux = next(r for r in rows if r[1] == "33063" and r[3] == "population")
    assert bordeaux[2] == "Bordeaux" and bordeaux[7] == 267_991
    assert page.query_selector('[data-testid="stException"]') is None
    page.close()


@pytest.mark.browser
def test_browser_source_note_opens_the_dictionary(flat_browser, server):
    from tests.conftest import wait_for_app

    context = flat_browser.new_context(viewport={"width": 1400, "height": 1400})  # a link, not a map
    page = context.new_page()
    page.goto(f"{server}/?niveau=commune&code=33063")
    wait_for_app(page)
    link = page.locator("a", has_text="définitions et sources").first
    href = link.get_attribute("href")
    ids = parse_qs(urlsplit(href).query)["indicateur"][0].split(",")  # the first source note's indicators
    catalogue = pl.read_parquet(configured_data_dir() / "catalogue.parquet")  # the folder the server reads
    labels = dict(catalogue.select("indicateur", "libelle").iter_rows())
    assert ids and all(i in labels for i in ids), ids
    with context.expect_page(timeout=60_000) as info:
        link.click()
    dico = info.value
    wait_for_app(dico, text=labels[ids[0]])
    assert f"/dictionnaire?indicateur={','.join(ids)}" in dico.url
    body = dico.inner_text("body")
    n = len(ids)
    assert all(labels[i] in body for i in ids) and f"{n} indicateur{'s' if n > 1 else ''} sur {catalogue.height}," in body
    context.close()


@pytest.mark.parametrize("request_", [
    export.Request(niveau="commune", parent="departement:33", layout="wide", format="csv-fr"),
    export.Request(niveau="epci", codes=("243300316",), layout="long", format="csv"),
    export.Request(niveau="commune", parent="departement:33", periodes=("courante",), layout="long", format="csv"),
    export.Request(niveau="departement", periodes=("2024",), layout="wide", format="csv"),
], ids=["communes-gironde-wide", "epci-long", "courante", "departements-2024"])
def test_the_page_extract_from_memory_is_the_files_extract(data_dir, request_):
    """The data page plans its extracts from the frames the server holds (`extracts.in_memory`): the
    same bytes as from the files, which the command line reads."""
    from dashboard import data

    version = data.version()
    source = extracts.in_memory(data.folder(version), version)
    assert source is not None
    from_files = export.plan(request_, data_dir)
    from_memory = export.plan(request_, data_dir, source=source)
    assert from_memory.output_rows == from_files.output_rows > 0
    assert export.to_bytes(from_memory) == export.to_bytes(from_files)
    assert extracts.in_memory(data_dir / "autre", version) is None  # another folder: read from its files
