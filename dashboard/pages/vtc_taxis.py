"""Page "VTC et taxis": key figures, commune map, ranking, 2009-2013-estimate series, aires urbaines context."""

import polars as pl
import streamlit as st

from dashboard import data, figures, fmt, freshness, layout, maps, state, tables, valeurs
from dashboard import vtc as v
from dashboard.territory import LEVEL_LABELS, neighbourhood
from etl import periods as etl_periods

t = state.current()
territoires = data.territoires()
indicateurs = data.indicateurs_of(*v.PREFIXES)  # its series and its taxis: cut once per data version
catalogue = data.catalogue()
aires = data.table(v.AIRES_TABLE)
model = data.table(v.MODEL_TABLE)
context = v.national_context(aires)

st.title(f"VTC et taxis : {t.nom}")
st.caption(f"{LEVEL_LABELS[t.niveau].capitalize()} · entreprises de taxi et de VTC (type Uber) enregistrées dans le "
           "territoire, d'après la Base permanente des équipements de l'Insee.")

# -- key figures -----------------------------------------------------------------------------------
kfs = figures.key_figures(None, catalogue, territoires, t, v.KEY_INDICATORS, levels=valeurs.levels())
estimated = any(k.nature == "estime" for k in kfs)
cols = st.columns(len(kfs))
for col, kf in zip(cols, kfs, strict=True):
    with col:
        label = kf.libelle + (" (estimation)" if kf.nature == "estime" else "")
        st.metric(label, kf.text())  # definitions below, not in a "Help for …" tooltip
        st.caption(layout.md(kf.caption()))
st.caption(layout.source_note(v.KEY_INDICATORS))
layout.definitions([(kf.libelle, kf.definition) for kf in kfs])
if estimated:
    missing = freshness.missing_sentence("Les comptages réels de la BPE actuelle manquent", data.manifest(), ["bpe"])
    st.warning(v.estimate_sentence(model, context["total_2018"], missing), icon=":material/calculate:")

# -- map ---------------------------------------------------------------------------------------------
st.subheader("Carte")
around = neighbourhood(territoires, t)
map_level = around["niveau"][0] if around.height else t.niveau
choices = {"vtc_pour_10000_hab": "Taxis et VTC pour 10 000 habitants", "vtc_equipements": "Taxis et VTC",
           "taxis_bpe": "Taxis en 2013 (avant les VTC)"}
indicator = st.radio("Colorer la carte selon", list(choices), format_func=choices.get, horizontal=True,
                     key="vtc_carte_indicateur")
keys = list(zip(around["niveau"], around["code"], strict=True))
values_df = valeurs.valeurs(keys, [indicator])
values = dict(values_df.select("code", "valeur").iter_rows())
meta = catalogue.filter(pl.col("indicateur") == indicator).row(0, named=True)
if around.height:
    feats = data.features(map_level, tuple(sorted(around["code"])))
    names = dict(around.select("code", "nom").iter_rows())
    # the same map for every view of this territory and indicator: built once per data version
    deck = data.per_version("carte_vtc", (t, indicator), lambda: maps.choropleth(
        feats, values, names, value_label=meta["libelle"], unit=meta["unite"], decimals=meta["decimales"],
        highlight=[t.code]))
    layout.clickable_map(deck, t, map_level, key="carte_vtc")
    layout.map_legend(maps.legend(values, meta["unite"], meta["decimales"], codes=around["code"].to_list()))
    natures = set(values_df["nature"].to_list())
    periods = etl_periods.sort(set(values_df["periode"].to_list()))
    st.caption(
        f"{meta['libelle']} ({', '.join(fmt.period(p) for p in periods)}"
        + (", estimation" if "estime" in natures else "") + "). Cliquer sur un territoire pour l'afficher. "
        + layout.source_note([indicator])
    )

# -- ranking of communes ---------------------------------------------------------------------------------
communes = v.communes_of(territoires, t)
ranked = v.ranked_communes(territoires, t, n=20)
title = "Communes de l'intercommunalité" if t.niveau == "commune" else "Communes du territoire"
st.subheader(f"{title} : classement" if t.niveau not in ("commune", "arrondissement") else title)
if ranked.height:
    est_note = ranked["nature"].eq("estime").any()
    vtc_header = "Taxis et VTC" + (" (estimation 2018)" if est_note else "")
    shown = ranked.select(
        pl.col("nom").alias("Commune"),
        pl.col("vtc").alias(vtc_header),
        pl.col("vtc_pour_10000_hab").alias("Pour 10 000 hab."),
        pl.col("taxis_2013").alias("Taxis 2013"),
        pl.col("taxis_2009").alias("Taxis 2009"),
        pl.col("population").alias("Population"),
    )
    tables.show(shown, {"Pour 10 000 hab.": tables.Number(1)}, key="vtc_classement",
                alt=f"{title} : taxis et VTC par commune")
    total = communes.height
    st.caption(
        (f"Les 20 premières communes sur {fmt.number(total)}. " if total > ranked.height else "")
        + "Taxis : BPE 2009 et 2013 (Insee). " + ("Taxis et VTC : estimation 2018 (voir plus haut). " if est_note else "")
        + layout.source_note(["taxis_bpe", "vtc_equipements"])
    )
else:
    st.info("Aucune commune à classer.")

# -- series ----------------------------------------------------------------------------------------------
st.subheader("Évolution : taxis avant les VTC, puis taxis et VTC")
rows = v.series(indicateurs, t)
if rows.height:
    st.plotly_chart(v.series_chart(rows), key="vtc_serie", config={"displayModeBar": False})
    st.caption("Barres grises hachurées : estimation. 2009 et 2013 : équipement « Taxi » (avant l'essor des VTC, "
               "mesuré) ; ensuite, équipement « Taxi - VTC ». " + layout.source_note(v.SERIES_IDS))
else:
    st.info("Pas de donnée de taxi pour ce territoire (commune absente des fichiers 2009 et 2013).")

# -- aires urbaines context ------------------------------------------------------------------------------
st.subheader("Le contexte national : l'essor des VTC entre 2013 et 2018")
c1, c2, c3 = st.columns(3)
c1.metric("Taxis et VTC en France, 2013", fmt.number(context["total_2013"]))
c2.metric("Taxis et VTC en France, 2018", fmt.number(context["total_2018"]),
          delta=fmt.signed_percent(context["evolution_pct"]), delta_color="off")
c3.metric("Part de la hausse à Paris", fmt.with_unit(context["part_paris_hausse_pct"], "%", 0))
c1.caption("Fichier de la BPE 2013 par aire urbaine")
c2.caption("Fichier de la BPE 2018 par aire urbaine")
c3.caption("Aire urbaine de Paris : part de la hausse 2013-2018 de la France")
st.markdown(
    f"Entre 2013 et 2018, l'équipement « Taxi - VTC » de la BPE passe de {fmt.number(context['total_2013'])} à "
    f"{fmt.number(context['total_2018'])} en France : l'apparition des entreprises de VTC. L'aire urbaine de Paris "
    f"passe à elle seule de {fmt.number(context['paris_2013'])} à {fmt.number(context['paris_2018'])}."
)
taxis_2013 = valeurs.valeur("france", "FR", "taxis_bpe")
if taxis_2013.periode == "2013" and taxis_2013.valeur is not None:
    gap = taxis_2013.valeur - context["total_2013"]
    st.caption(
        f"Deux comptes de 2013, deux fichiers : les {fmt.number(context['total_2013'])} équipements « Taxi - VTC » "
        "ci-dessus viennent du fichier de la BPE 2013 par aire urbaine (le seul qui donne aussi 2018) ; les "
        f"{fmt.number(taxis_2013.valeur)} « taxis (BPE, avant les VTC) » des chiffres clés viennent du fichier de la "
        f"BPE 2013 par commune, qui permet de descendre aux communes. Les deux extractions diffèrent de "
        f"{fmt.number(abs(gap))} équipements ({fmt.number(abs(gap) / context['total_2013'] * 100, 1)}{fmt.NNBSP}%) ; "
        "l'observatoire ne les mélange jamais dans un même calcul."
    )
st.plotly_chart(v.aires_figure(), key="vtc_aires", config={"displayModeBar": False})
with st.expander("Toutes les aires urbaines (zonage 2010)"):
    tables.show(
        aires.select(
            pl.col("libelle").alias("Aire urbaine ou reste du département"),
            pl.col("nb_2013").alias("2013"), pl.col("nb_2018").alias("2018"),
            pl.col("evolution_pct").alias("Évolution"),
            pl.col("categorie").alias("Catégorie"),
        ).sort(pl.col("2018"), fmt.sort_key_expr("Aire urbaine ou reste du département"), descending=[True, False]),
        {"Évolution": tables.Number(0, "%")}, key="vtc_aires_table",
        alt="Taxis et VTC par aire urbaine, 2013 et 2018",
    )
st.caption("Équipement E101 « Taxi - VTC » par aire urbaine (zonage 2010). Source : Insee, Base permanente des "
           "équipements 2013 et 2018 (Licence Ouverte 2.0).")

# -- what the source counts ------------------------------------------------------------------------------
st.info(v.NOTE, icon=":material/info:")
