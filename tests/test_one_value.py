"""One value per figure (issue #11, point 9): every page shows the answer of `dashboard.valeurs`.

A figure used to differ from page to page ("pas de donnée" here, 70 / 100 there; an EPCI's table in
December 2024 and its commune's in 2024). This test walks every page for five territories of
different levels and checks each figure it can name against the one function's answer.
"""

from __future__ import annotations

import polars as pl
import pytest

from dashboard import accueil, fiche, figures, fmt, valeurs
from dashboard import locations as loc
from dashboard.territory import parents, resolve

TERRITORIES = [("commune", "33063"), ("arrondissement", "69383"), ("epci", "243300316"), ("departement", "23"),
               ("region", "75")]
PAGES = ["dashboard/pages/mon_territoire.py", "dashboard/pages/equilibre.py", "dashboard/pages/tiers_lieux.py",
         "dashboard/pages/vtc_taxis.py", "dashboard/pages/covoiturage.py",
         "dashboard/pages/locations_courte_duree.py"]


@pytest.fixture(scope="module")
def levels(current):
    return valeurs.available(current)


def _answer(current, catalogue, levels, niveau, code, indicator):
    return valeurs.answer(current.filter((pl.col("niveau") == niveau) & (pl.col("code") == code)), catalogue,
                          niveau, code, indicator, levels)


def _key_figure_text(v: valeurs.Valeur) -> str:
    unit = "" if v.unite.startswith("pour ") else v.unite
    return figures.with_unit(v.valeur, unit, v.decimales)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(("niveau", "code"), TERRITORIES)
def test_every_figure_is_the_one_answer(app, page, niveau, code, current, catalogue, levels, territoires):
    at = app(page, niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    answer = lambda ind, n=niveau, c=code: _answer(current, catalogue, levels, n, c, ind)  # noqa: E731
    checked = 0

    if page.endswith("mon_territoire.py"):
        identity = at.caption[0].value
        assert fmt.compact(answer("population").valeur) in identity
        assert answer("densite").texte().replace(".", "\\.") in identity
        checked += 2
        for domain in accueil.DOMAINS:  # the tiles: each headline figure is the one answer
            v = answer(domain.headline_for(niveau))
            if not v.manque:
                assert metrics[v.libelle] == accueil.headline_text(v), domain.key
                checked += 1
        t = resolve(territoires, niveau, code)
        by_name = {p.nom: p for p in [t, *parents(territoires, t)]}
        table = next(d.value for d in at.table if "Indicateur" in d.value.columns)  # a static table
        ids = dict(catalogue.select("libelle", "indicateur").iter_rows())
        for r in table.to_dict(orient="records"):
            ind = ids[r["Indicateur"]]
            for name, p in by_name.items():
                v = _answer(current, catalogue, levels, p.niveau, p.code, ind)
                assert r[name].startswith(fmt.with_unit(v.valeur, v.unite, v.decimales)), (ind, name, r[name])
                checked += 1
    elif page.endswith("equilibre.py"):
        for label, index in (("Adoption collaborative", "indice_collaboratif"),
                             ("Pénétration des plateformes", "indice_plateformes")):
            assert metrics[label] == fiche.index_text(answer(index).valeur)
            checked += 1
    elif page.endswith(("tiers_lieux.py", "vtc_taxis.py")):
        ids = dict(catalogue.select("libelle", "indicateur").iter_rows())
        for label, value in metrics.items():
            ind = ids.get(label.removesuffix(" (estimation)"))
            if ind is None:
                continue  # national context of the VTC page: not a figure of this territory
            assert value == _key_figure_text(answer(ind)), (label, value)
            checked += 1
    elif page.endswith("covoiturage.py"):
        aires = answer("covoit_aires").valeur
        assert metrics["Lieux de covoiturage"] == (fmt.number(aires) if aires is not None else "aucun recensé")
        assert metrics["Places recensées"] == fmt.number(answer("covoit_places_aires").valeur)
        assert metrics["Places pour 10 000 hab."] == fmt.number(answer("covoit_places_aires_pour_10000_hab").valeur, 1)
        if niveau in ("departement", "region"):
            assert metrics["Population couverte"] == answer("covoit_part_pop_campagne").texte()
        else:
            assert metrics["Campagne d'incitation"] == answer("covoit_campagne_incitation").texte()
        checked += 4
        trips = answer("covoit_trajets")
        assert trips.periode == "2024"  # the page's default period: the latest complete year
        assert metrics["Trajets"] == fmt.number(trips.valeur)
        assert metrics["Trajets pour 1 000 hab."] == fmt.number(answer("covoit_trajets_pour_1000_hab").valeur, 1)
        checked += 2
    else:  # short-term rentals: the latest snapshot, when the territory is covered
        for ind, label in loc.KEY_FIGURES:
            shown = next((v for k, v in metrics.items() if k.removesuffix(" (estimation)") == label), None)
            if shown is None:
                continue
            v = answer(ind)
            assert v.periode == "2024-03"
            assert shown == loc.short_value(v.valeur, v.unite, v.decimales), (label, shown)
            checked += 1
        if niveau in ("commune", "arrondissement", "epci"):
            assert checked == len(loc.KEY_FIGURES)
    if not page.endswith("locations_courte_duree.py") or niveau in ("commune", "arrondissement", "epci"):
        assert checked > 0


def test_the_pages_lookup_is_the_rule(current, catalogue, levels):
    """`valeurs.valeur` (a dict per territory, for speed) gives `valeurs.answer`'s figure, refusals
    and reasons included, for every indicator of territories of each level (and a code unknown)."""
    indicators = catalogue["indicateur"].to_list()
    keys = [("commune", "33063"), ("commune", "97101"), ("arrondissement", "75056"), ("arrondissement", "69381"),
            ("epci", "243300316"), ("departement", "23"), ("region", "75"), ("france", "FR"), ("commune", "00000")]
    refused = current.filter(pl.col("valeur").is_null()).row(0, named=True)  # a refusal stored by the ETL
    keys.append((refused["niveau"], refused["code"]))
    compared = 0
    for niveau, code in keys:
        rows = current.filter((pl.col("niveau") == niveau) & (pl.col("code") == code))
        for ind in indicators:
            assert valeurs.valeur(niveau, code, ind) == valeurs.answer(rows, catalogue, niveau, code, ind, levels)
            compared += 1
    assert compared == len(keys) * catalogue.height
    assert valeurs.valeur(refused["niveau"], refused["code"], refused["indicateur"]).raison == refused["raison"]
