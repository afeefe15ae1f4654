"""The dashboard in Chromium: a deep link opened first on a freshly started server."""

from __future__ import annotations

import pytest

from tests.conftest import start_server, stop_server, wait_for_app, wait_until

pytestmark = pytest.mark.browser


def test_deep_link_first_on_a_fresh_server(browser):
    proc, base = start_server()  # nothing has run yet: no session, no cache
    try:
        page = browser.new_page(locale="fr-FR")
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?niveau=commune&code=33281")
        wait_for_app(page, text="Bordeaux Métropole")
        heading = page.locator("h1").first
        assert heading.inner_text().strip() == "Mérignac"
        body = page.inner_text("body")
        assert "Bordeaux Métropole" in body  # its EPCI, as a parent link
        assert "Traceback" not in body
        assert page.query_selector('[data-testid="stException"]') is None
        # the link was kept (the shell rewrites it, it must not drop it)
        assert "code=33281" in page.url
        # a bad code on the same server: French message, France shown
        page.goto(f"{base}/?niveau=commune&code=00000")
        wait_for_app(page, text="introuvable")
        assert "introuvable" in page.inner_text("body")
        assert page.locator("h1").first.inner_text().strip() == "France"
        assert not errors, errors
    finally:
        stop_server(proc)


def test_map_tooltip_shows_names_as_text(browser, server):
    """Streamlit's deck.gl component escapes what fills a tooltip placeholder: an apostrophe shows
    as an apostrophe (not "&#x27;"), and markup in a name would show as text."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, locale="fr-FR")
    page.goto(f"{server}/?niveau=commune&code=85113")  # L'Île-d'Yeu: no EPCI, alone on its map
    wait_for_app(page)
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    moves = iter([(0, 0), (6, 6), (-6, 4), (10, -8)] * 25)

    def tooltip() -> str:
        """hover the middle of the map, where the island is, until the tooltip shows"""
        tip = page.query_selector(".deck-tooltip")
        if tip and tip.is_visible() and tip.inner_text():
            return tip.inner_text()
        dx, dy = next(moves)
        page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
        return ""

    text = wait_until(tooltip, timeout=40, every=0.3)
    assert "L'Île-d'Yeu" in text, text
    assert "&#x27;" not in text and "&amp;" not in text


def test_clicking_a_point_of_the_quadrant_selects_that_territory(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, locale="fr-FR")
    page.goto(f"{server}/equilibre?niveau=commune&code=33063")
    wait_for_app(page)
    # where Mérignac (33281) is drawn, once Plotly has drawn: its own axes convert data to pixels
    locate = """() => {
        const gd = document.querySelector('.js-plotly-plot');
        if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis || !gd.querySelector('.nsewdrag')) return null;
        gd.scrollIntoView({block: 'center'});
        for (const trace of gd.data) {
            const i = (trace.customdata || []).indexOf('33281');
            if (i >= 0) {
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
                const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
                return {x: box.left + xa.l2p(trace.x[i]), y: box.top + ya.l2p(trace.y[i])};
            }
        }
        return 'absent';
    }"""
    target = wait_until(lambda: page.evaluate(locate), timeout=60, every=0.3)
    target = wait_until(lambda: page.evaluate(locate), timeout=10)  # again, after the scroll
    assert target != "absent", "Mérignac is not in the quadrant"
    page.mouse.click(target["x"], target["y"])
    page.wait_for_url("**code=33281**", timeout=30000)
    # the shared header names the selected territory in bold, first thing in the page
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"] strong')?.innerText.trim()"
                           " === 'Mérignac'", timeout=60_000)
    wait_for_app(page)
    assert "Mérignac" in page.inner_text('[data-testid="stMain"]')
