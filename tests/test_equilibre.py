"""The balance view on the real marts: indices mart, page, peers, brief PDF and its command line."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import polars as pl
import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from dashboard import equilibre, fiche, fmt
from dashboard.territory import resolve
from etl.config import ROOT
from etl.indices import COMPONENTS, compute, percentile_ranks

PAGE = "dashboard/pages/equilibre.py"


@pytest.fixture(scope="module")
def ranks(data_dir):
    return pl.read_parquet(data_dir / "equilibre" / "rangs.parquet")


def test_mart_ranks_are_those_of_the_indicators(ranks, data_dir):
    """A rank in the mart is the percentile of the value among all communes that have one."""
    tl = pl.read_parquet(data_dir / "indicateurs" / "tiers_lieux.parquet").filter(
        (pl.col("niveau") == "commune") & (pl.col("indicateur") == "tiers_lieux_pour_10000_hab"))
    expected = percentile_ranks(tl.rename({"indicateur": "composante"})).filter(pl.col("code") == "44109")["rang"].item()
    got = ranks.filter((pl.col("niveau") == "commune") & (pl.col("code") == "44109")
                       & (pl.col("composante") == "tiers_lieux_pour_10000_hab"))["rang"].item()
    assert got == pytest.approx(expected)
    # and by hand: (average rank - 1) / (n - 1) x 100
    v = tl.filter(pl.col("code") == "44109")["valeur"].item()
    below, equal = (tl["valeur"] < v).sum(), (tl["valeur"] == v).sum()
    assert got == pytest.approx((below + (equal + 1) / 2 - 1) / (tl.height - 1) * 100)


def test_indices_stored_equal_the_mean_of_ranks(ranks, data_dir):
    stored = pl.read_parquet(data_dir / "indicateurs" / "equilibre.parquet")
    mine = ranks.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    for index in COMPONENTS:
        r = mine.filter(pl.col("indice") == index)
        value = stored.filter((pl.col("code") == "33063") & (pl.col("niveau") == "commune")
                              & (pl.col("indicateur") == index))["valeur"].item()
        assert value == pytest.approx(r["rang"].mean())
        n = stored.filter((pl.col("code") == "33063") & (pl.col("indicateur") == f"{index}_composantes"))["valeur"]
        assert n.item() == r.height


def test_outside_airbnb_coverage_platform_index_leaves_rentals_out(ranks):
    """Paris is not covered by the mirror's Inside Airbnb: its platform index uses VTC only, not zeros."""
    paris = ranks.filter((pl.col("niveau") == "commune") & (pl.col("code") == "75056")
                         & (pl.col("indice") == "indice_plateformes"))
    assert set(paris["composante"]) == {"vtc_pour_10000_hab"}
    idx = compute(ranks.filter(pl.col("niveau") == "commune"))
    row = idx.filter((pl.col("code") == "75056") & (pl.col("indice") == "indice_plateformes")).row(0, named=True)
    assert row["n_composantes"] == 1 and row["valeur"] == pytest.approx(paris["rang"].item())
    assert row["nature"] == "estime"  # the VTC figure is an estimate: the index says so


def test_scopes_of_a_commune(territoires):
    row = territoires.filter(pl.col("code") == "33063").row(0, named=True)
    options = equilibre.scope_options(territoires, "commune", row)
    assert [equilibre.scope_param(o) for o in options] == [
        "commune@epci:243300316", "commune@departement:33", "commune@region:75"]
    names = {(n, c): nom for n, c, nom in territoires.select("niveau", "code", "nom").iter_rows()}
    assert equilibre.scope_label(options[0], names) == "les communes de l'intercommunalité Bordeaux Métropole"
    assert equilibre.members(territoires, options[0]).height == 28
    assert equilibre.parse_scope("commune@epci:243300316") == options[0]
    assert equilibre.parse_scope("n'importe quoi") is None


def test_page_for_every_level(app):
    for niveau, code in (("commune", "33063"), ("epci", "243300316"), ("departement", "33"), ("region", "75"),
                         ("arrondissement", "69383"), ("france", "FR")):
        at = app(PAGE, niveau=niveau, code=code)
        assert not at.exception, (niveau, code, [e.value for e in at.exception])
        assert at.title[0].value == "Collaboratif ou plateformes ?"
        assert at.get("plotly_chart"), "the quadrant chart is drawn"


def test_page_shows_the_indices_of_the_mart(app, data_dir):
    stored = pl.read_parquet(data_dir / "indicateurs" / "equilibre.parquet").filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "33063"))
    at = app(PAGE, niveau="commune", code="33063")
    metrics = {m.label: m.value for m in at.metric}
    for label, index in (("Adoption collaborative", "indice_collaboratif"),
                         ("Pénétration des plateformes", "indice_plateformes")):
        value = stored.filter(pl.col("indicateur") == index)["valeur"].item()
        assert metrics[label] == fiche.index_text(value)
    # the estimated component is named
    assert any("estimation" in w.value for w in at.warning)


def test_unticking_a_component_moves_the_index_as_computed_by_hand(app, ranks):
    at = app(PAGE, niveau="commune", code="33063", sans="vtc_pour_10000_hab")
    assert not at.exception
    mine = ranks.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063")
                        & (pl.col("indice") == "indice_plateformes") & (pl.col("composante") != "vtc_pour_10000_hab"))
    expected = fmt.number(mine["rang"].mean()) + " / 100"
    assert {m.label: m.value for m in at.metric}["Pénétration des plateformes"] == expected
    assert at.checkbox(key="eq_vtc_pour_10000_hab").value is False
    # ticking it back puts the parameter out of the URL
    at.checkbox(key="eq_vtc_pour_10000_hab").check().run()
    assert "sans" not in at.query_params


def test_bad_links_never_raise(app):
    at = app(PAGE, niveau="commune", code="99999")
    assert not at.exception and any("introuvable" in w.value for w in at.warning)
    at = app(PAGE, niveau="commune", code="33063", vue="region@france:FR", sans="inconnue,vtc_pour_10000_hab")
    assert not at.exception
    infos = " ".join(i.value for i in at.info)
    assert "vue demandée" in infos and "inconnue" in infos


def test_brief_pdf_of_bordeaux(app, tmp_path, ranks, territoires):
    pdf_bytes = fiche.brief_pdf("commune", "33063")
    pages = pdfium.PdfDocument(pdf_bytes)
    assert len(pages) == 2
    for i in range(2):  # each page renders to an image that is not blank
        image = pages[i].render(scale=0.6).to_pil().convert("L")
        histogram = image.histogram()
        assert sum(histogram[:200]) > 0.02 * sum(histogram), f"page {i + 1} looks empty"
    raw = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_bytes)).pages)
    text = re.sub(r"\s+", " ", raw.replace("\u202f", " "))  # justified text has double spaces
    at = app(PAGE, niveau="commune", code="33063")
    metrics = {m.label: m.value for m in at.metric}
    for label in ("Adoption collaborative", "Pénétration des plateformes", "Position"):
        assert metrics[label].replace("\u202f", " ") in text, (label, metrics[label])
    assert "267 991" in text  # identity
    assert "environ 15 % du covoiturage" in text  # the registry's coverage caveat
    assert "Inside Airbnb" in text
    # the percentile among peers in words, computed here from the ranks: the share of the peers
    # whose value is lower (ties count half)
    b = fiche.gather(resolve(territoires, "commune", "33063"))
    comp = b.standing["composante"][0]
    values = ranks.filter((pl.col("niveau") == "commune") & (pl.col("composante") == comp))
    mine = values.filter(pl.col("code") == "33063")["valeur"].item()
    others = values.filter(pl.col("code").is_in(b.peers["code"].implode()))["valeur"].to_list()
    share = (sum(v < mine for v in others) + sum(v == mine for v in others) / 2) / len(others) * 100
    assert f"au-dessus de {fmt.number(share)} % des {len(others)} comparables" in text
    assert "(sur " not in text


def test_brief_command_line_with_one_unknown_code(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dashboard.fiche", "33063", "99999", "33281", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    assert "99999" in out.stderr and "inconnu" in out.stderr
    files = sorted(p.name for p in tmp_path.glob("*.pdf"))
    assert files == ["fiche_commune_33063_bordeaux.pdf", "fiche_commune_33281_merignac.pdf"]
    assert "2 fiches écrites" in out.stdout


def test_brief_refuses_unknown(territoires):
    with pytest.raises(ValueError, match="inconnu"):
        fiche.brief_pdf("commune", "00000")
    assert resolve(territoires, "commune", "33063") is not None
