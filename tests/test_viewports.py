"""Issue #12, point 6: nothing cut off on a 1280 × 800 laptop nor on a 390 × 844 phone; search as you type.

The metric cards at 1280 × 800 are checked by tests/test_accessibility.py on the same page loads as axe.

A value or a label is cut off when its box is narrower than its text (scrollWidth > clientWidth,
Streamlit then draws an ellipsis); a table column is cut off when its header lies beyond what the
table shows without scrolling sideways.
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.conftest import wait_for_app

pytestmark = pytest.mark.browser

SIZES = [(1280, 800), (390, 844)]
PAGES = [("", "commune", "33063"), ("equilibre", "commune", "33063"),
         ("covoiturage", "epci", "243300316"), ("tiers-lieux", "epci", "243300316"),
         ("locations-courte-duree", "commune", "33063"), ("vtc-taxis", "france", "FR")]

CUT = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricValue"] *, [data-testid="stMetricLabel"], '
    + '[data-testid="stMetricLabel"] *')]
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText)"""


def _open_sidebar(page) -> None:
    """On a phone the sidebar starts closed: open it as a visitor does."""
    button = page.locator('[data-testid="stExpandSidebarButton"]')
    if button.count() and button.first.is_visible():
        button.first.click()
        page.locator('[data-testid="stSidebarUserContent"]').wait_for(state="visible")


def _settled_count(page, locator, quiet_ms: int = 750, max_rounds: int = 40) -> int:
    """The number of elements once it stops growing: on a loaded machine the cards of a page may
    still be arriving when the script has finished (the browser draws them after)."""
    count = locator.count()
    for _ in range(max_rounds):
        page.wait_for_timeout(quiet_ms)
        again = locator.count()
        if again == count:
            return count
        count = again
    return count


def cut_metrics(page) -> tuple[int, list[str]]:
    """The number of metric cards of a drawn page, and the texts of those cut off."""
    values = page.locator('[data-testid="stMetricValue"]')
    values.first.wait_for(timeout=60_000)  # every page of PAGES shows cards
    return _settled_count(page, values), page.evaluate(CUT)


def test_metric_values_and_labels_are_whole_on_a_phone(flat_browser, server):
    """390 × 844. The laptop size (1280 × 800) is checked on the page loads of the axe test
    (tests/test_accessibility.py), which opens every page of PAGES at that size."""
    page = flat_browser.new_page(viewport={"width": 390, "height": 844}, locale="fr-FR")
    cut = {}
    metrics = 0
    for path, niveau, code in PAGES:
        page.goto(f"{server}/{path}?niveau={niveau}&code={code}")
        wait_for_app(page)
        assert page.locator("[role=dialog]").count() == 0, f"/{path}: a dialog covers the page"
        count, found = cut_metrics(page)
        metrics += count
        if found:
            cut[path] = found
    page.close()
    assert metrics >= 3 * len(PAGES)  # the cards were drawn and measured
    assert not cut, cut


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_france_column_of_the_comparison_is_visible(flat_browser, server, width, height):
    """Mon territoire's comparison: the France column is second, in view without scrolling sideways."""
    page = flat_browser.new_page(viewport={"width": width, "height": height}, locale="fr-FR")
    page.goto(f"{server}/?niveau=commune&code=33063")
    wait_for_app(page)
    header = page.locator('[data-testid="stTable"] th', has_text="France").first
    header.scroll_into_view_if_needed()
    box = header.bounding_box()
    scroller = page.evaluate("""() => { const th = [...document.querySelectorAll('[data-testid="stTable"] th')]
        .find(e => e.innerText.trim() === 'France'); let e = th.parentElement;
        while (e && e.scrollWidth <= e.clientWidth + 1 && e.tagName !== 'BODY') e = e.parentElement;
        const r = (e && e.tagName !== 'BODY' ? e : document.documentElement).getBoundingClientRect();
        return {left: r.left, right: Math.min(r.right, window.innerWidth)}; }""")
    page.close()
    assert box["x"] >= scroller["left"] - 1
    assert box["x"] + box["width"] <= scroller["right"] + 1, (box, scroller)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_search_finds_as_you_type_and_tells_homonyms_apart(flat_browser, server, territoires, width, height):
    """Typing "sainte colombe", without Enter: the results appear as links naming each département,
    whole (not cut) on a phone too; a click opens the territory."""
    homonyms = territoires.filter((pl.col("niveau") == "commune") & (pl.col("nom") == "Sainte-Colombe"))
    deps = dict(territoires.filter(pl.col("niveau") == "departement").select("code", "nom").iter_rows())
    assert homonyms.height > 8  # more homonyms than the box lists
    page = flat_browser.new_page(viewport={"width": width, "height": height}, locale="fr-FR")
    page.goto(f"{server}/?niveau=france&code=FR")
    wait_for_app(page)
    _open_sidebar(page)
    box = page.get_by_label("Rechercher un territoire")
    box.click()
    # no Enter; the page may still be drawing its maps in software WebGL on a loaded machine: a generous timeout
    box.press_sequentially("sainte colombe", delay=40, timeout=180_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    results = sidebar.locator("button", has_text="Sainte-Colombe")
    results.first.wait_for(timeout=60_000)
    wait_for_app(page)
    _settled_count(page, results)  # the fragment's buttons may still be arriving after its run (7 of 8 counted once)
    labels = [t.strip() for t in results.all_inner_texts()]
    assert len(labels) == 8, labels  # layout.SEARCH_RESULTS, then a caption says there are more
    named = [lab for lab in labels if any(f"{c} {deps[c]}" in lab for c in homonyms["code_departement"])]
    assert len(named) == len(labels), labels  # each result names its département
    assert len(set(labels)) == len(labels)
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stSidebar"] button')]
        .filter(b => b.innerText.includes('Sainte-Colombe'))
        .flatMap(b => [b, ...b.querySelectorAll('*')])
        .filter(e => e.clientWidth > 0 && (e.scrollWidth > e.clientWidth + 1
                     || e.getBoundingClientRect().right > window.innerWidth + 1))
        .map(e => e.innerText)""")
    assert not cut, cut
    first = labels[0]
    dep = next(c for c in homonyms["code_departement"] if f"{c} {deps[c]}" in first)
    code = homonyms.filter(pl.col("code_departement") == dep)["code"][0]
    results.first.click()
    page.wait_for_url(f"**code={code}**", timeout=60_000)
    # the results in the sidebar already read "Sainte-Colombe": wait for the page's title to say it
    page.locator("h1", has_text="Sainte-Colombe").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.locator("h1").first.inner_text().strip() == "Sainte-Colombe"
    page.close()
