"""Shared page elements: the territory search, the header with parent links, the footer.

Text coming from users or data is escaped before it reaches Markdown (`md`).
"""

from __future__ import annotations

import functools
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


#: How many results the search lists under the box (more: the visitor types more, or a code).
SEARCH_RESULTS = 8
#: The pause after the last keystroke before the results are searched (no Enter needed).
SEARCH_PAUSE = "300ms"
SEARCH_KEY = "recherche_territoire"
_CHOSEN_KEY = "recherche_choisie"


def _choose(niveau: str, code: str) -> None:
    """A result was clicked: select it, empty the box, and ask for a run of the whole page."""
    state.select(niveau, code)
    st.session_state[SEARCH_KEY] = ""
    st.session_state[_CHOSEN_KEY] = True


def search_hits(query: str) -> pl.DataFrame:
    """The territories the box lists for `query` (one more than shown, to know whether there are more)."""
    return search(_search_index(data.version()), data.codes_postaux(), query, limit=SEARCH_RESULTS + 1)


def territory_search() -> None:
    """Search box in the sidebar: name, INSEE code, postal code, EPCI SIREN, département.

    The results appear as you type (after a pause of `SEARCH_PAUSE`, no Enter), as a list of
    buttons whose labels name the level and the département ("Sainte-Colombe (commune, 25 Doubs)"),
    so that homonyms are told apart and nothing opens a second drop-down. The box and its results
    are a fragment: typing reruns them alone, not the page; a click reruns the page on the new
    territory. No `help=` tooltip: Streamlit names its icon "Help for …" (in English) for screen
    readers; the hint is a caption.
    """
    with st.sidebar:
        _search_fragment()


@st.fragment
def _search_fragment() -> None:
    if st.session_state.pop(_CHOSEN_KEY, False):
        st.rerun()  # the whole page, on the territory just chosen
    query = st.text_input(
        "Rechercher un territoire",
        key=SEARCH_KEY,
        placeholder="Nom, code postal, code Insee…",
        live=SEARCH_PAUSE,
    )
    if not (query or "").strip():
        st.caption("Commune, intercommunalité (nom ou SIREN), département (nom ou numéro), région. Sans accents "
                   "ni tirets : « st etienne » trouve Saint-Étienne.")
        return
    hits = search_hits(query)
    if hits.height == 0:
        st.info(f"Aucun territoire ne correspond à « {md(query)} ».")
        return
    shown = hits.head(SEARCH_RESULTS)
    with st.container(gap="small"):
        for r in shown.select("niveau", "code", "libelle").iter_rows(named=True):
            st.button(md(r["libelle"]), key=f"resultat_{r['niveau']}_{r['code']}", on_click=_choose,
                      args=(r["niveau"], r["code"]), type="tertiary", width="content", wrap=True,
                      icon=":material/location_on:")
    if hits.height > SEARCH_RESULTS:
        st.caption(f"Les {SEARCH_RESULTS} premiers résultats : préciser le nom, ou taper un code postal ou un "
                   "numéro de département.")


#: Sets the document's language once the page is drawn: Streamlit serves `<html lang="en">` and has
#: no setting for it (streamlit/streamlit#15726), so screen readers would read French with English
#: rules. A constant script, no data in it.
_LANG_SCRIPT = "<script>document.documentElement.lang = 'fr';</script>"


#: Metric labels wrap instead of ending in "…": Streamlit keeps them on one line, and "Population à moins
#: de 10 km d'un tiers-lieu" or "Nuitées estimées sur 12 mois (estimation)" lose their end in a column of a
#: 1280 px screen (tests/test_viewports.py). Layout only, the same for every page.
_WRAP_STYLE = ("<style>[data-testid='stMetricLabel'], [data-testid='stMetricLabel'] * "
               "{white-space: normal !important; overflow: visible !important; text-overflow: clip !important; "
               "height: auto !important;}</style>")


def french_document() -> None:
    """Declare the page French (`<html lang="fr">`, see `_LANG_SCRIPT`) and let metric labels wrap."""
    with st.sidebar:
        st.html(_LANG_SCRIPT + _WRAP_STYLE, unsafe_allow_javascript=True, width="content")


def definitions(items: list[tuple[str, str]], title: str = "Définitions des chiffres clés") -> None:
    """What each key figure measures, in a closed expander under the figures.

    Rather than a `help=` tooltip on each `st.metric`: Streamlit names that tooltip's icon
    "Help for <label>" for screen readers, in English, and a tooltip is out of reach on a phone.
    """
    shown = [(label, text) for label, text in items if text]
    if not shown:
        return
    with st.expander(title):
        st.markdown("\n".join(f"- **{md(label)}** : {md(text)}" for label, text in shown))


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
    table = sources_table(data.version())
    if table is None:
        return
    st.divider()
    with st.expander("Sources, licences et millésimes des données"):
        # a static table: the attributions are sentences, which wrap here instead of running off the screen
        st.table(table, hide_index=True, alt="Sources, licences et millésimes des données")


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def sources_table(version: str) -> pl.DataFrame | None:
    """The footer's table, built once per data version (`version`: the cache key)."""
    sources = data.manifest(version).get("sources", {})
    if not sources:
        return None
    rows = []
    for name, s in sorted(sources.items(), key=lambda kv: fmt.sort_key(kv[1].get("titre", kv[0]))):
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
    return pl.DataFrame(rows)


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
    if catalogue is None:  # the served catalogue: the same few sentences for every view, written once
        return _source_note(data.version(), tuple(indicator_ids), link)
    return _write_source_note(catalogue, list(indicator_ids), link)


@functools.lru_cache(maxsize=512)
def _source_note(version: str, indicator_ids: tuple[str, ...], link: bool) -> str:
    """`source_note` on the served catalogue, per data version (a filter of the catalogue cost 2 to 5 ms a
    caption, a dozen captions a page)."""
    return _write_source_note(data.catalogue(), list(indicator_ids), link)


def _write_source_note(cat: pl.DataFrame, indicator_ids: list[str], link: bool) -> str:
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
