"""The README's screenshots, taken from the app running on the embedded data (issue #12, point 8).

    .venv/bin/python scripts/screenshots.py                 # data/ -> docs/images/*.png
    .venv/bin/python scripts/screenshots.py --data /tmp/d   # another data folder (OBSERVATOIRE_DATA)

Starts a fresh Streamlit server on 127.0.0.1, opens each view in Debian's headless Chromium at
1280 × 800 (Playwright, `executable_path=/usr/bin/chromium`), waits for what an official sees
(the script finished, the maps drawn), and writes a PNG per view, reduced to 256 colours so that
each weighs a few hundred kilobytes at most. Rerun it when a page changes; look at every image
before committing it (French, units, sources, maps drawn, « données simulées » where simulated).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, start_server, stop_server, wait_for_app  # noqa: E402

OUT = ROOT / "docs" / "images"
WIDTH, HEIGHT = 1280, 800
#: Upper bound of a PNG, in bytes: the README stays light.
MAX_BYTES = 400_000


@dataclass(frozen=True)
class View:
    """One screenshot: a file name, the link, a text that says the page is drawn, how far to scroll."""

    name: str
    path: str
    text: str
    #: the page height captured (the viewport is 1280 × 800; a taller clip shows what follows it)
    height: int = HEIGHT
    #: a heading to scroll to before the capture (None: the top of the page)
    scroll_to: str | None = None
    maps: int = 0


VIEWS = (
    View("accueil-commune", "/?niveau=commune&code=33063", "Les quatre domaines", height=1600),
    View("equilibre", "/equilibre?niveau=commune&code=33063", "Où se situe le territoire ?", height=1800,
         scroll_to="Où se situe le territoire ?", maps=1),
    View("covoiturage", "/covoiturage?niveau=epci&code=243300316", "Trajets par mois", height=2100, maps=1),
)


def optimise(png: bytes) -> bytes:
    """The screenshot in 256 colours (a page is flat colours and text: nothing visible is lost)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def capture(page, base: str, view: View) -> bytes:
    page.goto(base + view.path)
    wait_for_app(page, text=view.text, timeout=300)
    decks = page.locator('[data-testid="stDeckGlJsonChart"]')
    for i in range(view.maps):  # each map's canvas is there (deck.gl draws it in the next frames)
        decks.nth(i).locator("canvas").first.wait_for(timeout=120_000)
    if view.scroll_to:
        page.get_by_text(view.scroll_to, exact=True).first.scroll_into_view_if_needed()
        page.evaluate("() => window.scrollBy(0, -80)")
    page.wait_for_timeout(1500)  # deck.gl's and plotly's first frames after the scroll (no event to wait on)
    page.set_viewport_size({"width": WIDTH, "height": view.height})
    page.wait_for_timeout(800)
    return page.screenshot(full_page=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the dashboard for the README (docs/images/).")
    parser.add_argument("--data", type=Path, help="data folder (default: the embedded data/)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.data:
        os.environ["OBSERVATOIRE_DATA"] = str(args.data.resolve())
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    proc, base = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
                "--disable-background-networking", "--no-first-run"])
            for view in VIEWS:
                page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, locale="fr-FR")
                png = optimise(capture(page, base, view))
                path = args.out / f"{view.name}.png"
                path.write_bytes(png)
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(png) // 1024} Ko")
                if len(png) > MAX_BYTES:
                    print(f"  larger than {MAX_BYTES // 1000} kB: reduce the view's height", file=sys.stderr)
                page.close()
            browser.close()
    finally:
        stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
