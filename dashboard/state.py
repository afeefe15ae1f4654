"""The selected territory, kept in the URL so that a link reopens the same view.

The URL's `niveau` and `code` are the truth when present (a shared link, a parent link, a
click on the map). Streamlit clears query parameters when the user changes page through the
navigation, so the selection is also kept in the session and written back to the URL at every
run: it survives page changes. An unknown code never raises: a French message, then France.
"""

from __future__ import annotations

import re

import streamlit as st

from dashboard import data
from dashboard.territory import FRANCE, Territory, resolve

SESSION_KEY = "territoire"
BAD_LINK_KEY = "lien_invalide"


def current() -> Territory:
    """The territory to show in this run (and write it back to the URL)."""
    territoires = data.territoires()
    params = st.query_params
    niveau, code = params.get("niveau"), params.get("code")
    chosen = None
    if niveau or code:
        chosen = resolve(territoires, niveau, code)
        if chosen is None:
            asked = " ".join(x for x in (niveau, code) if x)
            st.session_state[BAD_LINK_KEY] = re.sub(r"[^\w\- ]", "", asked)[:60]  # shown as Markdown
    elif SESSION_KEY in st.session_state:
        chosen = resolve(territoires, *st.session_state[SESSION_KEY])
    if chosen is None:
        chosen = resolve(territoires, *FRANCE)
        assert chosen is not None, "le référentiel ne contient pas la France"
    select(chosen.niveau, chosen.code)
    return chosen


def select(niveau: str, code: str) -> None:
    """Make a territory the selection (usable from a widget callback)."""
    st.session_state[SESSION_KEY] = (niveau, code)
    if st.query_params.get("niveau") != niveau:
        st.query_params["niveau"] = niveau
    if st.query_params.get("code") != code:
        st.query_params["code"] = code


def pop_bad_link_message() -> str | None:
    """The French message about an unknown territory in the link, once."""
    asked = st.session_state.pop(BAD_LINK_KEY, None)
    if asked is None:
        return None
    return (
        f"Le territoire demandé dans le lien (« {asked} ») est introuvable : "
        "la France entière est affichée. Utilisez la recherche pour choisir un territoire."
    )


def link_params(t: Territory | tuple[str, str]) -> dict[str, str]:
    niveau, code = t.key if isinstance(t, Territory) else t
    return {"niveau": niveau, "code": code}
