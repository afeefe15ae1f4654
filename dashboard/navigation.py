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
            # short: the sidebar cuts a longer label at 1280 px ("Équilibre collaboratif / platefor…")
            page("equilibre.py", "Équilibre", ":material/balance:", "equilibre"),
        ],
        "Collaboratif": [
            page("covoiturage.py", "Covoiturage", ":material/directions_car:", "covoiturage"),
            page("tiers_lieux.py", "Tiers-lieux", ":material/co_present:", "tiers-lieux"),
        ],
        "Plateformes": [
            page("locations_courte_duree.py", "Locations de courte durée", ":material/bed:", "locations-courte-duree"),
            page("vtc_taxis.py", "VTC et taxis", ":material/local_taxi:", "vtc-taxis"),
        ],
        "Données": [page("donnees.py", "Données et téléchargements", ":material/download:", "donnees"),
                    page("dictionnaire.py", "Dictionnaire et sources", ":material/menu_book:", "dictionnaire")],
    }
