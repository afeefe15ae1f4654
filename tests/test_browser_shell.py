"""The dashboard in Chromium: a deep link opened first on a freshly started server."""

from __future__ import annotations

import pytest

from tests.conftest import start_server, wait_for_app

pytestmark = pytest.mark.browser


def test_deep_link_first_on_a_fresh_server(browser):
    proc, base = start_server()  # nothing has run yet: no session, no cache
    try:
        page = browser.new_page(locale="fr-FR")
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?niveau=commune&code=33281")
        wait_for_app(page)
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
        wait_for_app(page)
        assert "introuvable" in page.inner_text("body")
        assert page.locator("h1").first.inner_text().strip() == "France"
        assert not errors, errors
    finally:
        proc.terminate()
        proc.wait(timeout=10)
