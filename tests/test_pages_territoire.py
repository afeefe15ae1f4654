"""Page "Mon territoire" through Streamlit's AppTest, for every level and a bad link."""

from __future__ import annotations

import pytest

from dashboard import fmt

PAGE = "dashboard/pages/mon_territoire.py"

CASES = [
    ("commune", "33063", "Bordeaux", 267_991),
    ("arrondissement", "69383", "Lyon 3e Arrondissement", None),
    ("epci", "243300316", "Bordeaux Métropole", None),
    ("departement", "33", "Gironde", 1_690_493),
    ("region", "75", "Nouvelle-Aquitaine", None),
    ("france", "FR", "France", 68_350_798),
]


@pytest.mark.parametrize(("niveau", "code", "name", "population"), CASES)
def test_every_level(app, niveau, code, name, population):
    at = app(niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == name
    if population is not None:  # identity in one line under the title
        assert fmt.compact(population) in at.caption[0].value
    assert at.query_params["niveau"] == niveau and at.query_params["code"] == code
    assert at.get("deck_gl_json_chart"), "the map is drawn"
    texts = " ".join(str(c.value) for c in at.caption)
    assert "Source" in texts


def test_commune_compares_with_its_epci_and_france(app):
    at = app(niveau="commune", code="33063")
    tables = [t.value for t in at.dataframe]
    comparison = next(t.value for t in at.table if "Indicateur" in t.value.columns)  # a static table: cells wrap
    assert {"Bordeaux", "Bordeaux Métropole", "Gironde", "Nouvelle-Aquitaine", "France"} <= set(comparison.columns)
    secondary = comparison[comparison["Indicateur"] == "Part des résidences secondaires"].iloc[0]
    assert secondary["Bordeaux Métropole"].startswith("3,4\u202f%") and secondary["France"].startswith("9,7\u202f%")
    assert list(comparison.columns)[:3] == ["Indicateur", "Bordeaux", "France"]  # France first, seen on a phone
    peers = next(t for t in tables if "Territoire" in t.columns)
    assert "Bordeaux" not in set(peers["Territoire"])
    assert len(peers) == 10


def test_bad_code_falls_back_to_france(app):
    at = app(niveau="commune", code="99999")
    assert not at.exception
    assert at.title[0].value == "France"
    assert any("introuvable" in w.value for w in at.warning)
    assert at.query_params["code"] == "FR"


@pytest.mark.parametrize("params", [{"niveau": "galaxie", "code": "1"}, {"code": "33063"}, {"niveau": "commune"},
                                    {"niveau": "commune", "code": "<script>alert(1)</script>"}])
def test_malformed_links_never_raise(app, params):
    at = app(**params)
    assert not at.exception
    assert at.title[0].value == "France"
    assert all("<script>" not in w.value for w in at.warning)


def test_search_selects_a_territory(app):
    at = app(niveau="france", code="FR")
    at.sidebar.text_input[0].input("st etienne").run()
    # the results are buttons under the box (no second drop-down), the département telling homonyms apart
    results = [b for b in at.sidebar.button if b.key and b.key.startswith("resultat_")]
    assert results[0].label.replace("\\", "").startswith("Saint-Étienne (commune, 42 Loire)")  # markdown-escaped
    assert not at.sidebar.selectbox
    results[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Saint-Étienne"
    assert at.query_params["code"] == "42218"


def test_search_without_result_says_so(app):
    at = app(niveau="france", code="FR")
    at.sidebar.text_input[0].input("xqzwv").run()
    assert any("Aucun territoire" in i.value for i in at.sidebar.info)
