"""Shared page elements: the territory search, the header with parent links, the footer.

Text coming from users or data is escaped before it reaches Markdown (`md`).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pydeck as pdk
import streamlit as st

from dashboard import data, fmt, maps, state
from dashboard.territory import Territory, parents, search, with_search_names

#: The page icon, a file that the app serves itself (no font host asked for a glyph).
PAGE_ICON = str(Path(__file__).resolve().parent / "assets" / "icone.png")

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md(text: str) -> str:
    """Escape Markdown (and thereby HTML) special characters of a text from data or users."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _search_index(version: str) -> pl.DataFrame:
    """The search names, built once per data version (`version` is the cache key)."""
    return with_search_names(data.territoires())


def _on_choice() -> None:
    choice = st.session_state.get("choix_territoire")
    if choice:
        state.select(*choice)
    st.session_state["recherche_territoire"] = ""
    st.session_state["choix_territoire"] = None


def territory_search() -> None:
    """Search box in the sidebar: name, INSEE code, postal code, EPCI SIREN, département."""
    with st.sidebar:
        st.text_input(
            "Rechercher un territoire",
            key="recherche_territoire",
            placeholder="Nom, code Insee, code postal, SIREN…",
            help="Commune, arrondissement, intercommunalité (nom ou SIREN), département (nom ou numéro), "
            "région. Sans accents ni tirets : « st etienne » trouve Saint-Étienne.",
        )
        query = st.session_state.get("recherche_territoire", "")
        if not query:
            return
        hits = search(_search_index(data.version()), data.codes_postaux(), query)
        if hits.height == 0:
            st.info(f"Aucun territoire ne correspond à « {md(query)} ».")
            return
        labels = {(r["niveau"], r["code"]): r["libelle"] for r in hits.select("niveau", "code", "libelle").iter_rows(named=True)}
        st.selectbox(
            f"{hits.height} résultat{'s' if hits.height > 1 else ''}",
            options=list(labels),
            index=None,
            format_func=lambda k: labels[k],
            placeholder="Choisir un territoire",
            key="choix_territoire",
            on_change=_on_choice,
        )


def header(t: Territory, page: st.Page) -> None:
    """Where we are: parent links (France › région › … ) and the territory's name."""
    message = state.pop_bad_link_message()
    if message:
        st.warning(message, icon="⚠️")
    chain = list(reversed(parents(data.territoires(), t)))
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        for p in chain:
            st.page_link(page, label=f"{p.nom} ›", query_params=state.link_params(p))
        level = "" if t.niveau == "france" else f" · {t.level_label}"
        st.markdown(f":material/location_on: **{md(t.nom)}**{level}")


def footer() -> None:
    """Sources, licences and vintages of every dataset, read from the manifest."""
    sources = data.manifest().get("sources", {})
    if not sources:
        return
    st.divider()
    with st.expander("Sources, licences et millésimes des données"):
        rows = []
        for name, s in sorted(sources.items(), key=lambda kv: kv[1].get("titre", kv[0])):
            rows.append({
                "Jeu de données": s.get("titre", name),
                "Producteur": s.get("producteur", ""),
                "Licence": s.get("licence", ""),
                "Millésime": s.get("millesime", ""),
                "Nature": {"reel": "mesuré", "estime": "estimation", "simule": "données simulées"}.get(
                    s.get("nature", "reel"), s.get("nature", "")),
                "Récupéré le": french_date(s.get("recupere_le")),
                "Attribution": s.get("attribution", ""),
            })
        st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch")


def french_date(iso: str | None) -> str:
    """"2026-11-25T22:58:00+00:00" -> "25 novembre 2026"."""
    if not iso:
        return ""
    d = datetime.fromisoformat(iso)
    return fmt.period(d.date().isoformat())


#: URL path of the page "Dictionnaire et sources" (see `navigation.py`); `?indicateur=` filters it.
DICTIONARY_PATH = "dictionnaire"


def dictionary_link(indicator_ids: list[str]) -> str:
    """A relative link to the dictionary filtered on some indicators (works under a base URL path too)."""
    return f"{DICTIONARY_PATH}?indicateur={quote(','.join(indicator_ids), safe=',')}"


def source_note(indicator_ids: list[str], catalogue: pl.DataFrame | None = None, *, link: bool = True) -> str:
    """A caption naming the sources and licences of some indicators, linked to their definitions.

    The Markdown link opens the page "Dictionnaire et sources" on these indicators; pass
    `link=False` where Markdown is not rendered (a PDF, a tooltip).
    """
    cat = catalogue if catalogue is not None else data.catalogue()
    rows = cat.filter(pl.col("indicateur").is_in(indicator_ids)).select("source", "licence").unique(maintain_order=True)
    parts = [f"{s} ({lic})" for s, lic in rows.iter_rows()]
    if not parts:
        return ""
    note = "Source : " + " ; ".join(dict.fromkeys(parts))
    return f"{note} · [définitions et sources]({dictionary_link(indicator_ids)})" if link else note


def clickable_map(deck: pdk.Deck, t: Territory, map_level: str, *, key: str, layer_id: str = "territoires") -> None:
    """Show a map built by `maps.choropleth`; a click on another territory of `map_level` selects it."""
    event = st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key=key, height=maps.MAP_HEIGHT)
    picked = (event.selection.objects or {}).get(layer_id) if event else None
    if picked:
        code = picked[0].get("properties", {}).get("code") or picked[0].get("code")
        if code and code != t.code:
            state.select(map_level, code)
            st.rerun()


def map_legend(items: list[tuple[str, str]], *, round_marks: bool = False) -> None:
    """Colour marks and their labels under a map (labels escaped): `items` as from `maps.legend`."""
    shape = "border-radius:6px;" if round_marks else "border:1px solid #999;"
    st.markdown(" ".join(
        f"<span style='display:inline-block;width:12px;height:12px;{shape}background:{c};margin:0 4px 0 10px'>"
        f"</span>{md(text)}" for c, text in items
    ), unsafe_allow_html=True)
