"""Page "Mon territoire": identity card, map, indicators beside the parents', comparable territories."""

import polars as pl
import streamlit as st

from dashboard import compare, data, fmt, layout, maps, state, tables, valeurs
from dashboard.territory import LEVEL_LABELS, neighbourhood, parents
from etl import periods

t = state.current()
territoires = data.territoires()
row = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)).row(0, named=True)
chain = parents(territoires, t)
# the figures first (the one answer of `dashboard.valeurs`; loaded once per process), so that the
# identity card comes with the title rather than after it
figures_shown = {ind: valeurs.valeur(t.niveau, t.code, ind)
                 for ind in ("population", "logements", "part_residences_secondaires", "densite")}

st.title(t.nom)
code_label = {"epci": "SIREN", "commune": "code Insee", "arrondissement": "code Insee"}.get(t.niveau, "code")
st.caption(f"{LEVEL_LABELS[t.niveau].capitalize()}" + (f" · {code_label} {t.code}" if t.niveau != "france" else "")
           + (f" · {row['type_epci']}" if row.get("type_epci") else ""))

# -- identity card: every figure is the territory's answer from `dashboard.valeurs` ------------------
nearest = chain[0] if chain and chain[0].niveau != "france" else None
france = next((p for p in chain if p.niveau == "france"), None)


def compared(indicator: str) -> str:
    parts = []
    for p in (nearest, france):
        if p is not None:
            v = valeurs.valeur(p.niveau, p.code, indicator)
            parts.append(f"{p.nom} : {v.texte()}")
    return " · ".join(parts)


cols = st.columns(4)
density = figures_shown["densite"]
cards = [
    ("Population", fmt.compact(figures_shown["population"].valeur), "Population municipale 2023 (en vigueur en 2026)",
     None),
    ("Logements", fmt.compact(figures_shown["logements"].valeur), "Recensement 2021", None),
    ("Résidences secondaires", figures_shown["part_residences_secondaires"].texte(), "Part des logements (2021)",
     "part_residences_secondaires"),
    # the unit in the label: "5 398,3 hab./km²" does not fit a card of a 1280 px screen
    (f"Densité ({density.unite})" if density.unite else "Densité", density.texte(unit=False),
     f"Superficie : {fmt.with_unit(row['superficie_km2'], 'km²', 1)}", "densite"),
]
for col, (label, value, note, comp) in zip(cols, cards, strict=True):
    with col:
        st.metric(label, value)  # no help= tooltip: Streamlit names it "Help for …" in English
        st.caption(" · ".join(x for x in (note, compared(comp) if comp else "") if x))
housing_note = next((v.raison for v in figures_shown.values() if v.manque and v.raison and "Logements" in v.raison),
                    None)
if housing_note:
    st.warning(housing_note + " Les taux rapportés aux logements de cette commune ne sont pas affichés.",
               icon=":material/home:")

if chain:
    st.markdown("**Appartenance**")
    with st.container(horizontal=True, gap="small"):
        for p in chain:
            text = p.nom if p.niveau == "france" else f"{LEVEL_LABELS[p.niveau].capitalize()} : {p.nom}"
            st.page_link(st.session_state["page_courante"], label=text,
                         query_params=state.link_params(p), icon=":material/north_west:")
st.caption(layout.source_note(["population", "logements", "densite"]))

# -- map ---------------------------------------------------------------------------------------
st.subheader("Carte")
around = neighbourhood(territoires, t)
catalogue = data.catalogue()
map_level = around["niveau"][0] if around.height else t.niveau
at_level = sorted(i for lv, i in valeurs.levels() if lv == map_level)
available = catalogue.filter(pl.col("indicateur").is_in(at_level)).select(
    "indicateur", "libelle", "unite", "decimales").sort(fmt.sort_key_expr("libelle"), "indicateur")
choices = dict(available.select("indicateur", "libelle").iter_rows())
default = "densite" if "densite" in choices else next(iter(choices), None)
if around.height and default:
    indicator = st.selectbox("Colorer la carte selon", list(choices), index=list(choices).index(default),
                             format_func=choices.get, key="carte_indicateur",
                             filter_mode=None)  # a short list: no typing, so no English "No results"
    meta = available.filter(pl.col("indicateur") == indicator).row(0, named=True)
    values_df = valeurs.valeurs(list(zip(around["niveau"], around["code"], strict=True)), [indicator])
    values = dict(values_df.select("code", "valeur").iter_rows())
    codes = tuple(sorted(around["code"]))
    feats = data.features(map_level, codes)
    names = dict(around.select("code", "nom").iter_rows())
    deck = maps.choropleth(feats, values, names, value_label=meta["libelle"], unit=meta["unite"],
                           decimals=meta["decimales"], highlight=[t.code])
    layout.clickable_map(deck, t, map_level, key="carte_territoire")
    shown_periods = periods.sort(values_df["periode"].unique().to_list())
    natures = [fmt.nature_label(n) for n in sorted(set(values_df["nature"].to_list())) if fmt.nature_label(n)]
    layout.map_legend(maps.legend(values, meta["unite"], meta["decimales"]))
    missing = len(codes) - len(feats)
    st.caption(
        f"{meta['libelle']}" + (f" ({', '.join(fmt.period(p) for p in shown_periods)}"
                                + (f" ; {', '.join(natures)}" if natures else "") + ")" if shown_periods else "")
        + ". Cliquer sur un territoire pour l'afficher. " + layout.source_note([indicator])
        + (f" · {fmt.number(missing)} territoire{'s' if missing > 1 else ''} sans contour disponible." if missing > 0
           else "")
    )
else:
    st.info("Pas de carte disponible pour ce territoire.")

# -- indicators beside the parents ---------------------------------------------------------
st.subheader("Indicateurs comparés")
table = compare.comparison_table(valeurs.rows_for([t.key, *[p.key for p in chain]]), catalogue, t, chain)
if table.height:
    # a static table: its cells wrap (nothing cut on a phone), rows are indicators of different units
    st.table(compare.comparison_display(table, t, chain), hide_index=True,
             alt=f"Indicateurs de {t.nom} comparés à ceux de ses territoires parents et de la France")
    st.caption("Chaque case est la valeur du territoire à sa dernière période connue (entre parenthèses quand elle "
               "diffère de celle du territoire choisi). Les taux sont recalculés à chaque niveau à partir des sommes "
               "des communes, jamais moyennés.")
else:
    st.info("Aucun indicateur disponible pour ce territoire.")

# -- comparable territories ----------------------------------------------------------------
if t.niveau != "france":
    st.subheader("Territoires comparables")
    peers = compare.comparables(territoires, t)
    if peers.height:
        st.caption(compare.peer_summary(t, territoires))
        dep_names = dict(territoires.filter(pl.col("niveau") == "departement").select("code", "nom").iter_rows())
        peer_keys = list(zip(peers["niveau"], peers["code"], strict=True))
        peer_values = {(n, c, i): v for n, c, i, v in valeurs.valeurs(
            peer_keys, ["population", "densite", "part_residences_secondaires"]).select(
            "niveau", "code", "indicateur", "valeur").iter_rows()}
        shown = pl.DataFrame({  # the figures first, the département last: on a phone the figures show
            "Territoire": peers["nom"],
            "Population": [peer_values.get((*k, "population")) for k in peer_keys],
            "Densité (hab./km²)": [peer_values.get((*k, "densite")) for k in peer_keys],
            "Résidences secondaires": [peer_values.get((*k, "part_residences_secondaires")) for k in peer_keys],
            "Département": [f"{c} {dep_names.get(c, '')}".strip() if c else "" for c in peers["code_departement"]],
        }, schema_overrides={c: pl.Float64 for c in ("Population", "Densité (hab./km²)", "Résidences secondaires")})
        sel = tables.show(shown, {"Densité (hab./km²)": tables.Number(1), "Résidences secondaires": tables.PERCENT},
                          alt=f"Territoires comparables à {t.nom}", on_select="rerun", selection_mode="single-row",
                          key="table_comparables")
        rows = sel.selection.rows if sel else []
        if rows:
            chosen = peers.row(rows[0], named=True)
            state.select(chosen["niveau"], chosen["code"])
            st.rerun()
        st.caption("Sélectionner une ligne pour afficher ce territoire.")
    else:
        st.info("Pas de territoire comparable calculable (population ou superficie inconnue).")
