"""Page "Tiers-lieux": key figures, map of the places with the 10 km coverage, list, farthest communes."""

import polars as pl
import streamlit as st

from dashboard import data, figures, fmt, layout, maps, state, tables, valeurs
from dashboard import tiers_lieux as tl
from dashboard.territory import LEVEL_LABELS

t = state.current()
territoires = data.territoires()
lieux = data.table(tl.PLACES_TABLE)
vintage = ", ".join(sorted(lieux["millesime"].unique().to_list()))
source_caption = layout.source_note(tl.KEY_INDICATORS) + f" · millésime {vintage}"

st.title(f"Tiers-lieux : {t.nom}")
st.caption(
    f"{LEVEL_LABELS[t.niveau].capitalize()} · espaces de coworking et fablabs recensés par l'ANCT en {vintage} "
    "(enquête de la Mission coworking 2018 et ajouts 2019). Le recensement date : des lieux ont ouvert ou fermé depuis."
)

# -- key figures -----------------------------------------------------------------------------------
cols = st.columns(len(tl.KEY_INDICATORS))
kfs = figures.key_figures(None, data.catalogue(), territoires, t, tl.KEY_INDICATORS, levels=valeurs.levels())
for col, kf in zip(cols, kfs, strict=True):
    with col:
        st.metric(kf.libelle, kf.text())  # definitions below, not in a "Help for …" tooltip
        st.caption(layout.md(kf.caption()))
st.caption(source_caption)
layout.definitions([(kf.libelle, kf.definition) for kf in kfs])

mine = tl.places_of(lieux, t)
counts = tl.type_counts(mine)
if mine.height:
    st.markdown(
        f"**{fmt.number(mine.height)} tiers-lieu{'x' if mine.height > 1 else ''}** recensé{'s' if mine.height > 1 else ''}"
        f" en {vintage} : {fmt.number(counts['coworking'])} à dominante coworking, "
        f"{fmt.number(counts['fablab'])} à dominante fablab, {fmt.number(counts['inconnu'])} de type non renseigné."
    )
else:
    st.info(f"Aucun tiers-lieu recensé en {vintage} dans ce territoire. La carte montre les lieux voisins et "
            f"leur zone de {tl.COVERAGE_KM} km.")

# -- map -------------------------------------------------------------------------------------------
st.subheader("Carte des tiers-lieux")
outline = data.features("region") if t.niveau == "france" else data.features(t.niveau, (t.code,))
# the view: the territory and 10 km around it (for a commune without a place, up to its nearest one)
distances = data.indicateurs_of(tl.DISTANCE)  # cut once per data version from the long table
nearest = distances.filter((pl.col("indicateur") == tl.DISTANCE) & (pl.col("niveau") == t.niveau)
                           & (pl.col("code") == t.code))["valeur"]
margin = max(tl.COVERAGE_KM, (nearest[0] + 2) if mine.height == 0 and nearest.len() else 0)
box = None if t.niveau == "france" else tl.view_box(outline, margin)
around = tl.places_around(lieux, tl.view_box(outline, margin + tl.COVERAGE_KM) if box else None)


@st.cache_data(max_entries=64, show_spinner=False)
def coverage(ids: tuple[str, ...], version: str) -> dict | None:  # version: the places' data version (cache key)
    return tl.coverage_area(lieux.filter(pl.col("identifiant").is_in(list(ids))))


# the same map for every view of this territory: built once per data version
deck = data.per_version("carte_tiers_lieux", t, lambda: tl.place_map(
    outline, around, set(mine["identifiant"].to_list()), territoires,
    coverage=coverage(tuple(sorted(around["identifiant"])), data.version()), box=box))
st.pydeck_chart(deck, height=maps.MAP_HEIGHT, key="carte_tiers_lieux")
layout.map_legend(tl.legend_items(), round_marks=True)
st.caption(
    f"Gros points : lieux du territoire ; petits points : lieux voisins. Zone bleue : à moins de {tl.COVERAGE_KM} km "
    f"à vol d'oiseau d'un lieu. Survoler un lieu pour son nom, son type, son adresse et son site. "
    f"{source_caption}."
)

# -- list of places ----------------------------------------------------------------------------------
st.subheader("Liste des tiers-lieux du territoire")
if mine.height:
    tables.show(
        tl.places_table(mine, territoires), alt=f"Tiers-lieux recensés ({t.nom})", key="tl_lieux",
        column_config={"Site web": st.column_config.LinkColumn("Site web", display_text=r"https?://(?:www\.)?([^/]+)")},
    )
    st.caption(f"{source_caption}. Coordonnées de contact non reprises (données personnelles).")
else:
    st.caption("Aucun lieu à lister.")

# -- farthest communes ---------------------------------------------------------------------------------
if t.niveau in ("commune", "arrondissement"):
    st.subheader("Tiers-lieu le plus proche")
else:
    st.subheader("Communes les plus éloignées d'un tiers-lieu")
far = tl.farthest_communes(distances, territoires, lieux, t)
if far.height:
    shown = pl.DataFrame({
        "Commune": far["nom"],
        "Distance": far["distance_km"],
        "Population": far["population"],
        "Tiers-lieu le plus proche": far["lieu_proche"],
        "Sa commune": far["commune_lieu_proche"],
    })
    tables.show(shown, {"Distance": tables.Number(1, "km")}, key="tl_eloignees",
                alt=f"Communes de {t.nom} les plus éloignées d'un tiers-lieu")
    st.caption(
        "Distance à vol d'oiseau entre le centre de la commune et le tiers-lieu recensé le plus proche, où qu'il soit "
        f"(y compris hors du territoire). {source_caption}."
    )
else:
    st.info("Distance non calculable : centre de la commune inconnu (commune sans contour).")
