"""Page "Équilibre collaboratif / plateformes": the two indices, quadrant, bivariate map, ranking, peers, brief."""

import polars as pl
import streamlit as st

from dashboard import compare, data, equilibre, fiche, fmt, guard, layout, maps, state
from dashboard.territory import LEVEL_LABELS
from etl.indices import COMPONENTS

t = state.current()
territoires = data.territoires()
ranks = data.table("equilibre/rangs.parquet")
row = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)).row(0, named=True)
names = {(n, c): nom for n, c, nom in territoires.select("niveau", "code", "nom").iter_rows()}
labels = dict(equilibre.component_table().select("composante", "libelle").iter_rows())

st.title("Collaboratif ou plateformes ?")
st.caption(
    "Deux indices de 0 à 100 situent le territoire parmi ceux de même niveau : l'adoption collaborative locale "
    "(covoiturage, aires, incitations, tiers-lieux) et la pénétration des plateformes commerciales (locations de "
    "courte durée, VTC). Chaque indice est la moyenne des rangs centiles de ses composantes disponibles."
)

# -- state from the URL: the group shown and the unticked components --------------------------
options = equilibre.scope_options(territoires, t.niveau, row)
scope = equilibre.parse_scope(st.query_params.get("vue"))
if st.query_params.get("vue") and scope not in options:
    st.info("La vue demandée dans le lien ne correspond pas à ce territoire : vue par défaut affichée.")
    scope = None
scope = scope or options[0]
excluded, unknown = equilibre.parse_excluded(st.query_params.get("sans"))
if unknown:
    st.info(f"Composante(s) inconnue(s) dans le lien, ignorée(s) : {layout.md(', '.join(unknown))}.")


def _set_scope() -> None:
    st.query_params["vue"] = equilibre.scope_param(st.session_state["eq_vue"])


def _set_excluded() -> None:
    off = [c for c in labels if not st.session_state.get(f"eq_{c}", True)]
    if off:
        st.query_params["sans"] = ",".join(off)
    elif "sans" in st.query_params:
        del st.query_params["sans"]


with st.expander("Composantes des indices (décocher pour tester la sensibilité)", expanded=bool(excluded)):
    natures = ranks.group_by("composante").agg(pl.col("nature").unique().sort())
    nature_of = {c: [n for n in ns if n != "reel"] for c, ns in natures.iter_rows()}
    cols = st.columns(2)
    for col, (index, comps) in zip(cols, COMPONENTS.items(), strict=True):
        with col:
            st.markdown(f"**{'Adoption collaborative' if index == 'indice_collaboratif' else 'Plateformes'}**")
            for c in comps:
                tag = ", ".join(fmt.nature_label(n) for n in nature_of.get(c.indicateur, []))
                missing = c.indicateur not in nature_of
                st.session_state.setdefault(f"eq_{c.indicateur}", c.indicateur not in excluded)
                st.checkbox(c.libelle + (f" — {tag}" if tag else "") + (" — aucune donnée" if missing else ""),
                            key=f"eq_{c.indicateur}", on_change=_set_excluded)

idx_all = equilibre.indices(ranks.filter(pl.col("niveau") == (scope.niveau)), excluded)
scope_rows = guard.run_or_stop(equilibre.table, territoires, ranks, scope, excluded, what="le classement")
mine = idx_all.filter(pl.col("code") == t.code)
peers = compare.comparables(territoires, t) if t.niveau != "france" else territoires.head(0)
peer_codes = set(peers["code"])

# -- the territory's two indices ---------------------------------------------------------------
if t.niveau != "france":
    me = mine.row(0, named=True) if mine.height else {}
    peer_idx = idx_all.filter(pl.col("code").is_in(list(peer_codes)))
    c1, c2, c3 = st.columns(3)
    for col, index, title in ((c1, "indice_collaboratif", "Adoption collaborative"),
                              (c2, "indice_plateformes", "Pénétration des plateformes")):
        value = me.get(index)
        n = me.get(f"n_{index}")
        nature = fmt.nature_label(me.get(f"nature_{index}") or "")
        with col:
            st.metric(title, f"{fmt.number(value)} / 100" if value is not None else fmt.NO_DATA,
                      help=dict(data.catalogue().select("indicateur", "definition").iter_rows()).get(index))
            median = peer_idx[index].median() if peer_idx.height and index in peer_idx.columns else None
            st.caption(
                (f"{n} composante{'s' if n and n > 1 else ''} sur {len(COMPONENTS[index])}" if n else "aucune composante")
                + (f" · {nature}" if nature else "")
                + (f" · territoires comparables (médiane) : {fmt.number(median)}" if median is not None else "")
            )
    with c3:
        from etl.indices import quadrant as _quadrant

        q = _quadrant(me.get("indice_collaboratif"), me.get("indice_plateformes"))
        st.metric("Position", q or "non classé",
                  help="Seuil : 50, le rang médian parmi les territoires du même niveau.")
        st.caption(f"Parmi toutes les {equilibre.SCOPE_NAMES.get(t.niveau, 'territoires')} de France")
else:
    st.info("Les indices se comparent entre territoires d'un même niveau : choisissez un territoire, ou "
            "parcourez ci-dessous les régions et départements.")

PLURAL = {"estime": "estimations", "simule": "données simulées"}
mine_ranks = ranks.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code) & (pl.col("nature") != "reel"))
if mine_ranks.height:
    kinds = sorted({PLURAL[n] for n in mine_ranks["nature"]})
    st.warning(
        f"Indices calculés en partie sur des {' et des '.join(kinds)} : "
        + ", ".join(f"{labels[c][:1].lower()}{labels[c][1:]} ({fmt.nature_label(n)})"
                    for c, n in mine_ranks.select("composante", "nature").iter_rows())
        + ".", icon="ℹ️")

# -- quadrant chart ----------------------------------------------------------------------------
st.subheader("Où se situe le territoire ?")
st.selectbox("Comparer parmi", options, index=options.index(scope),
             format_func=lambda s: equilibre.scope_label(s, names), key="eq_vue", on_change=_set_scope)
fig = equilibre.quadrant_figure(scope_rows, t.code, peer_codes)
event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="eq_quadrant",
                        config={"displayModeBar": False, "locale": "fr"})
points = event.selection.points if event else []
if points:
    code = points[0].get("customdata")
    if isinstance(code, list):
        code = code[0]
    if code and code != t.code:
        state.select(scope.niveau, code)
        st.rerun()
shown = scope_rows.filter(pl.col("indice_collaboratif").is_not_null() & pl.col("indice_plateformes").is_not_null())
st.caption(
    f"{shown.height} {equilibre.SCOPE_NAMES[scope.niveau]} sur {scope_rows.height} ont les deux indices "
    "(les autres n'ont aucune composante d'un des deux, par exemple hors des villes couvertes par Inside Airbnb). "
    "Cliquer sur un point pour afficher ce territoire."
)

# -- bivariate map -------------------------------------------------------------------------------
st.subheader("Carte")
codes = tuple(sorted(scope_rows["code"]))
if scope.niveau == "commune" and scope.parent_niveau in ("epci", "departement"):
    feats = data.features("commune", codes)
else:
    feats = data.features(scope.niveau, codes)
fills = {c: equilibre.bivariate_colour(a, b) for c, a, b in scope_rows.select("code", "classe_c", "classe_p").iter_rows()}
extra = {c: f"collaboratif {fmt.number(a)} · plateformes {fmt.number(b)}" for c, a, b in
         scope_rows.select("code", "indice_collaboratif", "indice_plateformes").iter_rows()}
deck = maps.choropleth(feats, dict(scope_rows.select("code", "indice_collaboratif").iter_rows()),
                       dict(scope_rows.select("code", "nom").iter_rows()), value_label="Indice collaboratif",
                       unit="", decimals=0, highlight=[t.code], fills=fills, extra_tooltip=extra, layer_id="territoires")
layout.clickable_map(deck, t, scope.niveau, key="eq_carte")
legend_col, note_col = st.columns([1, 2])
with legend_col:
    st.markdown(equilibre.bivariate_legend_html(), unsafe_allow_html=True)
with note_col:
    st.caption("Couleur : terciles des deux indices (0-33, 33-67, 67-100) ; en gris, un des indices manque. "
               "Palette lisible par les daltoniens. Cliquer sur un territoire pour l'afficher.")

# -- ranking ---------------------------------------------------------------------------------------
st.subheader("Classement")
comp_cols = [c for comps in COMPONENTS.values() for c in (x.indicateur for x in comps) if c in scope_rows.columns]
ranking = scope_rows.select(
    pl.col("nom").alias("Territoire"),
    pl.col("indice_collaboratif").round(0).alias("Indice collaboratif"),
    pl.col("indice_plateformes").round(0).alias("Indice plateformes"),
    pl.col("quadrant").alias("Position"),
    *[pl.col(c).round(2).alias(labels[c]) for c in comp_cols],
).sort("Indice collaboratif", descending=True, nulls_last=True)
st.dataframe(ranking, hide_index=True, width="stretch")
st.caption("Trier en cliquant sur un en-tête. Valeurs des composantes à leur dernière période connue. "
           + layout.source_note(["indice_collaboratif", "indice_plateformes", *comp_cols]))

# -- peers -----------------------------------------------------------------------------------------
if t.niveau != "france":
    st.subheader("Face aux territoires comparables")
    if peers.height:
        st.caption(compare.peer_summary(t, territoires) + " " + ", ".join(peers["nom"].to_list()) + ".")
        standing = equilibre.standing_among(ranks, t.code, t.niveau, list(peer_codes))
        if standing.height:
            st.dataframe(pl.DataFrame({
                "Composante": [labels[c] for c in standing["composante"]],
                "Valeur": [fmt.number(v, 2) for v in standing["valeur"]],
                "Période": [fmt.period(p) for p in standing["periode"]],
                "Nature": [fmt.nature_label(n) or "mesuré" for n in standing["nature"]],
                "Rang centile en France": [fmt.number(v) for v in standing["rang"]],
                "Rang centile parmi les comparables": [f"{fmt.number(v)} (sur {n} comparables)" for v, n in
                                                        standing.select("rang_pairs", "n_pairs").iter_rows()],
            }), hide_index=True, width="stretch")
        else:
            st.info("Aucune composante connue pour ce territoire.")
    else:
        st.info("Pas de territoire comparable calculable.")

# -- brief ----------------------------------------------------------------------------------------
if t.niveau != "france":
    st.subheader("Fiche territoire")
    st.download_button(
        "Télécharger la fiche territoire (PDF, 2 pages A4)",
        data=lambda: guard.call(fiche.brief_pdf, t.niveau, t.code, what="la fiche PDF"),
        file_name=fiche.file_name(t), mime="application/pdf", icon=":material/picture_as_pdf:",
        on_click="ignore",
    )
    st.caption("Pour toutes les communes d'un département en une fois : "
               f"`python -m dashboard.fiche --niveau commune --departement {row.get('code_departement') or 'XX'} --out fiches/`.")

with st.expander("Méthode"):
    st.markdown(
        "- **Rang centile** d'une composante : (rang moyen − 1) / (nombre de territoires − 1) × 100, parmi tous les "
        f"territoires du même niveau qui ont une valeur ({LEVEL_LABELS[scope.niveau]}s : la plus faible vaut 0, la plus "
        "forte 100, les ex-aequo partagent leur rang moyen).\n"
        "- **Indice** : moyenne des rangs des composantes disponibles ; une composante absente (hors couverture "
        "d'Inside Airbnb par exemple) est laissée de côté, jamais comptée 0 ; le nombre de composantes utilisées est "
        "affiché.\n"
        "- **Nature** : l'indice prend la nature la plus faible de ses composantes (simulé, puis estimé, puis réel).\n"
        "- **Limites** : le registre de preuve de covoiturage ne compte que les trajets des opérateurs partenaires "
        "(environ 15 % du covoiturage du quotidien) ; Inside Airbnb ne couvre que quelques villes ; les tiers-lieux "
        "datent de 2019 ; le nombre d'équipements taxi-VTC est une estimation tant que la BPE actuelle n'a pas été "
        "récupérée (voir la section « Rafraîchir les données » du fichier README du projet)."
    )
