"""Issue #13: every map goes through one builder (`dashboard.maps.Deck`, compact JSON), so that
each page's France view sends the browser well under 1.5 MB of map.

pydeck's own `Deck.to_json` indents its JSON: the carpooling and tiers-lieux France maps were
4.33 MB and 3.08 MB that way. The sizes are measured on what the page sends (AppTest's element).
"""

from __future__ import annotations

import json

import pytest

from etl.config import ROOT

LIMIT = 1_500_000

PAGES = ["dashboard/pages/mon_territoire.py", "dashboard/pages/equilibre.py", "dashboard/pages/covoiturage.py",
         "dashboard/pages/tiers_lieux.py", "dashboard/pages/locations_courte_duree.py",
         "dashboard/pages/vtc_taxis.py"]


def test_no_page_builds_a_plain_pydeck_deck():
    plain = [str(p.relative_to(ROOT)) for p in (ROOT / "dashboard").rglob("*.py")
             if "pdk.Deck(" in p.read_text(encoding="utf-8")]
    assert plain == []


@pytest.mark.parametrize("page", PAGES)
def test_france_maps_are_compact_and_small(app, page):
    at = app(page, niveau="france", code="FR")
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("deck_gl_json_chart")
    # France has no Inside Airbnb map (the rentals page maps a covered area); the landing page draws the
    # national picture (départements) above the map of régions (issue #12); every other page draws one
    expected = {"locations_courte_duree.py": 0, "mon_territoire.py": 2}.get(page.rsplit("/", 1)[-1], 1)
    assert len(charts) == expected, page
    for chart in charts:
        text = chart.proto.json
        spec = json.loads(text)
        assert "\n" not in text and ", " not in text[:2000]  # compact separators, no indentation
        assert len(text.encode("utf-8")) < LIMIT, (page, len(text))
        assert spec.get("layers"), page
