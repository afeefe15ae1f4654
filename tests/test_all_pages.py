"""Every page of the navigation, for every level and a bad link: it runs, in French, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import ROOT

PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dashboard" / "pages").glob("*.py"))
CASES = [("commune", "33063"), ("arrondissement", "69383"), ("epci", "243300316"), ("departement", "33"),
         ("region", "75"), ("france", "FR"), ("commune", "99999")]


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "dashboard" / "navigation.py").read_text(encoding="utf-8")
    for page in PAGES:
        assert f'"{Path(page).name}"' in nav, f"{page} is not reachable from the menu"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(("niveau", "code"), CASES)
def test_page_runs(app, page, niveau, code):
    at = app(page, niveau=niveau, code=code)
    assert not at.exception, [e.value for e in at.exception]
    if code == "99999":
        assert any("introuvable" in w.value for w in at.warning)
        assert at.query_params["code"] == "FR"
    else:
        assert at.query_params["code"] == code  # the selection stays in the link


def test_selection_survives_a_page_change(app):
    """The menu clears the link's parameters when it changes page: the session keeps the territory."""
    at = app(niveau="commune", code="33281")
    at.query_params.clear()
    at.switch_page("dashboard/pages/tiers_lieux.py").run()
    assert not at.exception
    assert at.query_params["code"] == "33281"
    assert "Mérignac" in " ".join(m.value for m in at.markdown)
