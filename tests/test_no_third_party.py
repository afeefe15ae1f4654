"""No third-party call by default: every page, in Chromium, asks only the app's own host.

A visitor's browser must not call a font host (the page icon) or a tile server (the maps'
basemap): a privacy question for a public body, and the maps must look the same offline.
`tests/conftest.py` records every request of every browser test; this test opens every page of
the menu on a territory where each page draws its maps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import maps, navigation
from tests.conftest import is_local, wait_for_app

pytestmark = pytest.mark.browser

#: The menu's pages by their address (README, « Les pages »)
PATHS = ["mon-territoire", "equilibre", "covoiturage", "tiers-lieux", "locations-courte-duree", "vtc-taxis", "donnees",
         "dictionnaire"]
#: The pages that draw at least one map for Bordeaux
MAP_PAGES = {"mon-territoire", "equilibre", "covoiturage", "tiers-lieux", "locations-courte-duree"}


def test_every_page_asks_only_the_app(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, locale="fr-FR")
    requested: list[str] = []
    page.context.on("request", lambda r: requested.append(r.url))
    menu = Path(navigation.__file__).read_text(encoding="utf-8")
    assert all(f'"{path}"' in menu for path in PATHS) and menu.count("page(\"") == len(PATHS)
    maps_seen = 0
    for path in PATHS:
        # Bordeaux: covered by Inside Airbnb, carpooling flows, tiers-lieux: every map is drawn
        # the default page answers at / (Streamlit shows an English « Page not found » at its own path)
        page.goto(f"{server}/{'' if path == 'mon-territoire' else path}?niveau=commune&code=33063")
        wait_for_app(page, text="Bordeaux")
        decks = page.locator('[data-testid="stDeckGlJsonChart"]')
        if path in MAP_PAGES:  # under load a map's element may come after the text: wait for what is drawn
            decks.first.wait_for(timeout=60_000)
        for i in range(decks.count()):
            decks.nth(i).scroll_into_view_if_needed()
            decks.nth(i).locator("canvas").first.wait_for(timeout=60_000)
            maps_seen += 1
        # the icon the browser shows is one the app serves
        icons = page.eval_on_selector_all("link[rel~='icon']", "links => links.map(l => l.href)")
        assert icons and all(is_local(href) for href in icons), icons
    assert maps_seen >= len(MAP_PAGES)
    assert any(u.startswith(server) for u in requested)
    foreign = sorted({u for u in requested if not is_local(u)})
    assert foreign == [], foreign
    page.close()


def test_basemap_is_none_unless_an_operator_names_one(monkeypatch):
    deck = maps.choropleth([], {}, {}, value_label="x", unit="")
    spec = maps.to_json_dict(deck)
    assert spec["mapStyle"] == maps.NO_BASEMAP and not spec.get("mapProvider")
    assert "cartocdn" not in deck.to_json() and "mapbox" not in deck.to_json()
    monkeypatch.setenv(maps.BASEMAP_ENV, "https://tuiles.example.fr/style.json")
    spec = maps.to_json_dict(maps.choropleth([], {}, {}, value_label="x", unit=""))
    assert spec["mapStyle"] == "https://tuiles.example.fr/style.json" and spec["mapProvider"] == "maplibre"
