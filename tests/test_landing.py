"""The landing page is the verdict (issue #12, point 1): positions, verdict, one tile per domain.

Every figure of a tile is checked against the one answer of `dashboard.valeurs`, read here from
the data folder; the trends against the snapshots of the indicators table; a domain without a
measure says so in a sentence, with no number.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from dashboard import accueil, equilibre, fmt, valeurs
from dashboard.territory import resolve

PAGE = "dashboard/pages/mon_territoire.py"
CASES = [("commune", "33063"), ("epci", "243300316"), ("departement", "33"), ("france", "FR")]


@pytest.fixture(scope="module")
def stored(data_dir):
    return pl.read_parquet(data_dir / "equilibre" / "indices.parquet")


@pytest.fixture(scope="module")
def answer(current, catalogue):
    levels = valeurs.available(current)

    def lookup(niveau: str, code: str, indicator: str) -> valeurs.Valeur:
        rows = current.filter((pl.col("niveau") == niveau) & (pl.col("code") == code))
        return valeurs.answer(rows, catalogue, niveau, code, indicator, levels)
    return lookup


def unescape(text: str) -> str:
    """A Markdown text as the user reads it (`layout.md` escapes punctuation)."""
    return re.sub(r"\\(.)", r"\1", str(text))


def texts(at) -> list[str]:
    """Every text the page shows (Markdown, captions, alerts, metrics), Markdown escapes removed."""
    out = [unescape(e.value) for kind in ("markdown", "caption", "info", "warning", "title", "subheader")
           for e in getattr(at, kind)]
    return out + [f"{m.label} {m.value}" for m in at.metric]


@pytest.mark.parametrize(("niveau", "code"), CASES)
def test_tiles_show_the_one_answer(app, niveau, code, answer):
    at = app(niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    shown = " ".join(texts(at))
    assert "Les quatre domaines" in shown
    for domain in accueil.DOMAINS:
        v = answer(niveau, code, domain.headline_for(niveau))
        if v.manque:
            assert v.libelle not in metrics, f"{domain.key}: a number shown where there is no measure"
            continue
        assert metrics[v.libelle] == accueil.headline_text(v), domain.key
        assert v.quand() in shown
    # each tile links to its page, keeping the territory
    links = {p.proto.label: (p.proto.page, p.proto.query_string) for p in at.get("page_link")}
    for domain in accueil.DOMAINS:
        page, query = links[f"Voir la page {domain.titre}"]
        assert page == domain.page.removesuffix(".py").replace("_", "-")
        assert query == f"niveau={niveau}&code={code}"


def test_commune_opens_on_its_balance(app, stored, answer):
    at = app(niveau="commune", code="33063")
    me = stored.filter((pl.col("niveau") == "commune") & (pl.col("code") == "33063")).row(0, named=True)
    for key in accueil.POSITIONS:
        me[key] = answer("commune", "33063", key).valeur
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Adoption collaborative"] == accueil.index_text(me["indice_collaboratif"])
    assert metrics["Pénétration des plateformes"] == accueil.index_text(me["indice_plateformes"])
    shown = " ".join(texts(at))
    assert equilibre.verdict(me, "Bordeaux", "commune") in shown
    assert me["raison_indice_collaboratif"] in shown
    # the titles of the page come in this order: the answer, the domains, then the detail
    order = [s.value for s in at.subheader]
    assert order.index("Collaboratif ou plateformes ?") < order.index("Les quatre domaines") < order.index(
        "Le territoire en détail")
    # identity in one line, through `dashboard.valeurs`
    line = unescape(at.caption[0].value)
    assert fmt.compact(answer("commune", "33063", "population").valeur) + " habitants" in line
    assert answer("commune", "33063", "densite").texte() in line


def test_rentals_tile_trend_between_snapshots(app, data_dir):
    """Bordeaux: listings per 100 dwellings at the two Inside Airbnb snapshots, from the indicators table."""
    rows = pl.read_parquet(data_dir / "indicateurs" / "locations_courte_duree.parquet").filter(
        (pl.col("niveau") == "commune") & (pl.col("code") == "33063")
        & (pl.col("indicateur") == "str_annonces_pour_100_logements"))
    by_period = dict(rows.select("periode", "valeur").iter_rows())
    assert set(by_period) == {"2021-12", "2024-03"}
    change = (by_period["2024-03"] - by_period["2021-12"]) / by_period["2021-12"] * 100
    at = app(niveau="commune", code="33063")
    expected = f"{fmt.signed_percent(change)} depuis décembre 2021"
    assert expected in " ".join(texts(at)), expected


def test_uncovered_commune_says_so_without_a_number(app, answer):
    """Most communes have no Inside Airbnb coverage: one sentence, no figure; VTC is labelled an estimate."""
    at = app(niveau="commune", code="63178")  # Issoire
    assert not at.exception
    v = answer("commune", "63178", "str_annonces_pour_100_logements")
    assert v.manque
    metrics = {m.label for m in at.metric}
    assert v.libelle not in metrics
    shown = " ".join(texts(at))
    assert "Inside Airbnb ne relève pas ce territoire" in shown
    vtc = answer("commune", "63178", "vtc_pour_10000_hab")
    assert vtc.nature == "estime" and "(estimation)" in vtc.quand()
    assert "Estimation, pas une mesure" in shown


def test_france_opens_on_the_map_of_departements(app, territoires):
    at = app(niveau="france", code="FR")
    assert not at.exception
    decks = at.get("deck_gl_json_chart")
    assert decks, "the map of départements"
    import json

    spec = json.loads(decks[0].proto.json)
    codes = {f["properties"]["code"] for layer in spec["layers"] if layer["id"] == "territoires"
             for f in layer["data"]["features"]}
    assert codes == set(territoires.filter(pl.col("niveau") == "departement")["code"])
    shown = " ".join(texts(at))
    assert "la France n'a pas de note" in shown
    assert re.search(r"Sur les 101 départements", shown)


def test_tile_functions_never_fake_a_number(answer, territoires):
    """A territory without a carpool figure: the tile's sentence is the figure's own reason."""
    t = resolve(territoires, "commune", "55039")  # Beaumont-en-Verdunois, no inhabitant
    tiles = accueil.tiles(t, answer, [], lambda *a: None)
    carpool = next(x for x in tiles if x.domain.key == "covoiturage")
    v = answer("commune", "55039", "covoit_trajets_pour_1000_hab")
    assert v.manque and carpool.absence and carpool.comparaison is None
    assert re.search(r"\d", carpool.absence) is None or "6" in carpool.absence  # the secrecy rule, not a figure


@pytest.mark.parametrize(("code", "indicator"), [("33063", "distance_tiers_lieu_km"),
                                                 ("33063", "covoit_trajets_pour_1000_hab")])
def test_comparison_never_contradicts_the_figures_it_prints(answer, territoires, code, indicator):
    """« Au-dessus de la médiane : 0,3 km » beside a tile of 0,3 km reads false: equal once rounded is « Proche de »."""
    import statistics

    from dashboard import compare

    t = resolve(territoires, "commune", code)
    peers = compare.comparables(territoires, t)
    figure = answer("commune", code, indicator)
    peer_figures = [answer(n, c, indicator) for n, c in peers.select("niveau", "code").iter_rows()]
    same = [p.valeur for p in peer_figures if not p.manque
            and (p.periode, p.nature, p.source) == (figure.periode, figure.nature, figure.source)]
    median = statistics.median(same)
    text = accueil.comparison_text(figure, peer_figures, t)
    assert fmt.with_unit(median, figure.unite, figure.decimales) in text
    if fmt.number(figure.valeur, figure.decimales) == fmt.number(median, figure.decimales):
        assert text.startswith("Proche de"), text
    elif abs(figure.valeur - median) > 0.05 * abs(median):
        assert text.startswith("Au-dessus" if figure.valeur > median else "En dessous"), text
