"""Page "Mon territoire": identity card, map, indicators beside the parents', comparable territories."""

import polars as pl
import streamlit as st

from dashboard import compare, data, fmt, layout, maps, state
from dashboard.territory import LEVEL_LABELS, neighbourhood, parents

t = state.current()
territoires = data.territoires()
row = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)).row(0, named=True)
chain = parents(territoires, t)

st.title(t.nom)
code_label = {"epci": "SIREN", "commune": "code Insee", "arrondissement": "code Insee"}.get(t.niveau, "code")
st.caption(f"{LEVEL_LABELS[t.niveau].capitalize()}" + (f" · {code_label} {t.code}" if t.niveau != "france" else "")
           + (f" · {row['type_epci']}" if row.get("type_epci") else ""))

# -- identity card ---------------------------------------------------------------------------
nearest = chain[0] if chain and chain[0].niveau != "france" else None
france = territoires.filter(pl.col("niveau") == "france").row(0, named=True)
ref = territoires.filter((pl.col("niveau") == nearest.niveau) & (pl.col("code") == nearest.code)).row(0, named=True) if nearest else None


def compared(col: str, unit: str, decimals: int) -> str:
    parts = []
    if ref is not None:
        parts.append(f"{ref['nom']} : {fmt.with_unit(ref[col], unit, decimals)}")
    if t.niveau != "france":
        parts.append(f"France : {fmt.with_unit(france[col], unit, decimals)}")
    return " · ".join(parts)


cols = st.columns(4)
cards = [
    ("Population", fmt.compact(row["population"]), "Population municipale 2023 (en vigueur en 2026)", None),
    ("Logements", fmt.compact(row["logements"]), "Recensement 2021", None),
    ("Résidences secondaires", fmt.with_unit(row["part_residences_secondaires"], "%", 1),
     "Part des logements (2021)", ("part_residences_secondaires", "%", 1)),
    ("Densité", fmt.with_unit(row["densite_hab_km2"], "hab./km²", 0),
     f"Superficie : {fmt.with_unit(row['superficie_km2'], 'km²', 1)}", ("densite_hab_km2", "hab./km²", 0)),
]
for col, (label, value, help_text, comp) in zip(cols, cards, strict=True):
    with col:
        st.metric(label, value, help=help_text)
        if comp:
            st.caption(compared(*comp))
        else:
            st.caption(help_text)

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
available = (
    data.indicateurs().filter(pl.col("niveau") == map_level).select("indicateur").unique()
    .join(catalogue.select("indicateur", "libelle", "unite", "decimales"), on="indicateur").sort("libelle")
)
choices = dict(available.select("indicateur", "libelle").iter_rows())
default = "densite" if "densite" in choices else next(iter(choices), None)
if around.height and default:
    indicator = st.selectbox("Colorer la carte selon", list(choices), index=list(choices).index(default),
                             format_func=choices.get, key="carte_indicateur")
    meta = available.filter(pl.col("indicateur") == indicator).row(0, named=True)
    values_df = compare.latest(data.indicateurs(), list(zip(around["niveau"], around["code"], strict=True)), [indicator])
    values = dict(values_df.select("code", "valeur").iter_rows())
    codes = tuple(sorted(around["code"]))
    feats = data.features(map_level, codes)
    names = dict(around.select("code", "nom").iter_rows())
    deck = maps.choropleth(feats, values, names, value_label=meta["libelle"], unit=meta["unite"],
                           decimals=meta["decimales"], highlight=[t.code])
    layout.clickable_map(deck, t, map_level, key="carte_territoire")
    period = values_df["periode"].max() if values_df.height else None
    layout.map_legend(maps.legend(values, meta["unite"], meta["decimales"]))
    missing = len(codes) - len(feats)
    st.caption(
        f"{meta['libelle']}" + (f" ({fmt.period(period)})" if period else "")
        + ". Cliquer sur un territoire pour l'afficher. " + layout.source_note([indicator])
        + (f" · {missing} territoire(s) sans contour disponible." if missing > 0 else "")
    )
else:
    st.info("Pas de carte disponible pour ce territoire.")

# -- indicators beside the parents ---------------------------------------------------------
st.subheader("Indicateurs comparés")
table = compare.comparison_table(data.indicateurs(), catalogue, t, chain)
if table.height:
    chain_cols = [(f"{t.niveau}:{t.code}", t.nom), *[(f"{p.niveau}:{p.code}", p.nom) for p in chain]]
    shown = []
    for r in table.iter_rows(named=True):
        line = {"Indicateur": r["libelle"], "Période": fmt.period(r["periode"])}
        for key, name in chain_cols:
            line[name] = fmt.with_unit(r.get(key), r["unite"], r["decimales"])
        line["Nature"] = fmt.nature_label(r["nature"]) or "mesuré"
        shown.append(line)
    st.dataframe(pl.DataFrame(shown), hide_index=True, width="stretch")
    st.caption("Les taux sont recalculés à chaque niveau à partir des sommes des communes, jamais moyennés.")
else:
    st.info("Aucun indicateur disponible pour ce territoire.")

# -- comparable territories ----------------------------------------------------------------
if t.niveau != "france":
    st.subheader("Territoires comparables")
    peers = compare.comparables(territoires, t)
    if peers.height:
        st.caption(compare.peer_summary(t, territoires))
        dep_names = dict(territoires.filter(pl.col("niveau") == "departement").select("code", "nom").iter_rows())
        shown = pl.DataFrame({
            "Territoire": peers["nom"],
            "Département": [f"{c} {dep_names.get(c, '')}".strip() if c else "" for c in peers["code_departement"]],
            "Population": [fmt.number(v) for v in peers["population"]],
            "Densité (hab./km²)": [fmt.number(v) for v in peers["densite_hab_km2"]],
            "Résidences secondaires": [fmt.with_unit(v, "%", 1) for v in peers["part_residences_secondaires"]],
        })
        sel = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                           key="table_comparables")
        rows = sel.selection.rows if sel else []
        if rows:
            chosen = peers.row(rows[0], named=True)
            state.select(chosen["niveau"], chosen["code"])
            st.rerun()
        st.caption("Sélectionner une ligne pour afficher ce territoire.")
    else:
        st.info("Pas de territoire comparable calculable (population ou superficie inconnue).")
