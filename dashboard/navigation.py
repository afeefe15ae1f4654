"""The pages of the dashboard, in menu order. A new page adds one line here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).parent / "pages"


def pages() -> dict[str, list[st.Page]]:
    def page(file: str, title: str, icon: str, url: str, default: bool = False) -> st.Page:
        return st.Page(PAGES_DIR / file, title=title, icon=icon, url_path=url, default=default)

    return {
        "Territoire": [
            page("mon_territoire.py", "Mon territoire", ":material/location_city:", "mon-territoire", default=True),
        ],
        "Collaboratif": [page("covoiturage.py", "Covoiturage", ":material/directions_car:", "covoiturage")],
    }
