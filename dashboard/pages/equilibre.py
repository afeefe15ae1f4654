"""Page "Équilibre collaboratif / plateformes": what the indices rest on, the verdict, quadrant, map, ranking."""

import polars as pl
import streamlit as st

from dashboard import compare, data, equilibre, fiche, fmt, guard, layout, maps, state, tables, valeurs
from dashboard.territory import rows_of
from etl.indices import COMPONENT_META, COMPONENTS, MIN_TERRITORIES

t = state.current()
territoires = data.territoires()
ranks = data.table("equilibre/rangs.parquet")
stored = data.table("equilibre/indices.parquet")
row = rows_of(territoires, [t.key]).row(0, named=True)
names = data.territory_names()
labels = dict(equilibre.component_table().select("composante", "libelle").iter_rows())
TITLES = {"indice_collaboratif": "Adoption collaborative", "indice_plateformes": "Pénétration des plateformes"}

st.title("Collaboratif ou plateformes ?")
st.caption(
    "Deux indices de 0 à 100 situent le territoire parmi ceux de même niveau : l'adoption collaborative locale "
    "(covoiturage, aires, incitations, tiers-lieux) et la pénétration des plateformes commerciales (locations de "
    "courte durée, essor des VTC). Pour chaque composante, le territoire reçoit la part des territoires de même "
    "niveau qu'il devance (de 0 à 100) ; l'indice est la moyenne de ces positions sur toutes les composantes classées "
    "à ce niveau. Un territoire auquel il en manque une n'a pas de note."
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
    many = len(unknown) > 1
    st.info(f"Composante{'s' if many else ''} inconnue{'s' if many else ''} dans le lien, "
            f"ignorée{'s' if many else ''} : {layout.md(', '.join(unknown))}.")


def _set_scope() -> None:
    st.query_params["vue"] = equilibre.scope_param(st.session_state["eq_vue"])


def _set_excluded() -> None:
    off = [c for c in labels if not st.session_state.get(f"eq_{c}", True)]
    if off:
        st.query_params["sans"] = ",".join(off)
    elif "sans" in st.query_params:
        del st.query_params["sans"]


# -- the territory: what each index rests on, the verdict, then the two numbers ------------------
mine_wide = equilibre.served_indices(t.niveau, frozenset(excluded)) if t.niveau != "france" else stored.head(0)
mine = mine_wide.filter(pl.col("code") == t.code)
me = mine.row(0, named=True) if mine.height else {}
mine_ranks = equilibre.territory_ranks(t.niveau, t.code)
peers = compare.comparables(territoires, t) if t.niveau != "france" else territoires.head(0)
peer_codes = set(peers["code"])

if t.niveau != "france":
    st.subheader("Ce que disent les indices")
    for index, title in TITLES.items():
        reason = me.get(f"raison_{index}") or "Commune sans habitant : pas d'indice."
        st.markdown(f"**{title}** — {layout.md(reason)}")
    st.info(layout.md(equilibre.verdict(me, t.nom, t.niveau)), icon=":material/record_voice_over:")

    peer_wide = mine_wide.filter(pl.col("code").is_in(list(peer_codes)))
    c1, c2, c3 = st.columns(3)
    for col, index in ((c1, "indice_collaboratif"), (c2, "indice_plateformes")):
        answer = valeurs.valeur(t.niveau, t.code, index)
        value = me.get(index) if excluded else answer.valeur
        with col:
            st.metric(TITLES[index], fiche.index_text(value))  # no help=: "Help for …" in English
            n, req = me.get(f"n_{index}"), me.get(f"requises_{index}")
            nature = fmt.nature_label(me.get(f"nature_{index}") or "")
            median = peer_wide[index].median() if peer_wide.height else None
            st.caption(
                (f"{n} composante{'s' if n and n > 1 else ''} sur {req} classée{'s' if req and req > 1 else ''} à ce "
                 "niveau" if req else "aucune composante classée à ce niveau")
                + (f" · {nature}" if nature and value is not None else "")
                + (f" · territoires comparables notés (médiane de {peer_wide[index].count()}) : {fmt.number(median)}"
                   if median is not None else "")
            )
    with c3:
        st.metric("Position", me.get("quadrant") or "non classé")
        st.caption(f"Parmi les {equilibre.LEVEL_PLURAL.get(t.niveau, 'territoires')} de France "
                   f"{equilibre.agreed(t.niveau, 'noté')} sur les deux indices ; seuil : 50, le milieu de l'échelle "
                   "de chaque indice")

    # the components of this territory: value, period, nature, rank (or why none)
    if mine_ranks.height:
        lines = []
        for r in mine_ranks.sort("indice", "composante").iter_rows(named=True):
            answer = valeurs.valeur(t.niveau, t.code, r["composante"])
            if r["statut"] == "aucun":
                value_text = COMPONENT_META[r["composante"]].absent_texte
            else:
                value_text = answer.texte() if answer.periode == r["periode"] else fmt.with_unit(
                    r["valeur"], answer.unite, answer.decimales)
            rank_text = (f"contexte : connue pour moins de {MIN_TERRITORIES} {equilibre.LEVEL_PLURAL[t.niveau]}, "
                         "sans position" if r["statut"] == "contexte" else
                         ("décochée" if r["composante"] in excluded else equilibre.position_text(r["rang"], t.niveau)))
            lines.append({
                "Indice": TITLES[r["indice"]], "Composante": labels[r["composante"]], "Valeur": value_text,
                "Période": fmt.period(r["periode"]), "Nature": fmt.nature_label(r["nature"]) or "mesuré",
                "Position en France": rank_text,
            })
        # a static table: rows of different units, cells that wrap on a phone
        st.table(pl.DataFrame(lines), hide_index=True, alt=f"Composantes des indices de {t.nom}")
    PLURAL = {"estime": "estimations", "simule": "données simulées"}
    weak = mine_ranks.filter((pl.col("nature") != "reel") & pl.col("rang").is_not_null())
    if weak.height:
        kinds = sorted({PLURAL[n] for n in weak["nature"]})
        st.warning(
            f"Indices calculés en partie sur des {' et des '.join(kinds)} : "
            + ", ".join(f"{labels[c][:1].lower()}{labels[c][1:]} ({fmt.nature_label(n)})"
                        for c, n in weak.select("composante", "nature").iter_rows())
            + ".", icon="ℹ️")
else:
    st.info("Les indices se comparent entre territoires d'un même niveau : choisissez un territoire, ou "
            "parcourez ci-dessous les régions et départements.")

with st.expander("Composantes des indices (décocher pour tester la sensibilité)", expanded=bool(excluded)):
    nature_of = equilibre.served_component_natures()
    cols = st.columns(2)
    for col, (index, comps) in zip(cols, COMPONENTS.items(), strict=True):
        with col:
            st.markdown(f"**{TITLES[index]}**")
            for c in comps:
                tag = ", ".join(fmt.nature_label(n) for n in nature_of.get(c.indicateur, []))
                missing = c.indicateur not in nature_of
                st.session_state.setdefault(f"eq_{c.indicateur}", c.indicateur not in excluded)
                st.checkbox(c.libelle + (f" — {tag}" if tag else "") + (" — classée nulle part" if missing else ""),
                            key=f"eq_{c.indicateur}", on_change=_set_excluded)

# -- quadrant chart ----------------------------------------------------------------------------
st.subheader("Où se situe le territoire ?")
st.selectbox("Comparer parmi", options, index=options.index(scope),
             format_func=lambda s: equilibre.scope_label(s, names), key="eq_vue", on_change=_set_scope,
             filter_mode=None)  # a short list: no typing, so no English "No results"
scope_rows = guard.run_or_stop(equilibre.served_table, scope, frozenset(excluded), what="le classement")
shown = equilibre.both(scope_rows)
what = equilibre.SCOPE_NAMES[scope.niveau]
if shown.height:
    fig = equilibre.quadrant_figure(shown, t.code, peer_codes)
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
    st.caption(f"{shown.height} {what} sur {scope_rows.height} ont les deux indices complets, tous calculés sur les "
               "mêmes composantes. Cliquer sur un point pour afficher ce territoire.")
else:
    st.info(f"Aucun territoire de cette vue ({layout.md(equilibre.scope_label(scope, names))}) n'a les deux indices : "
            "la pénétration des plateformes n'y est pas mesurée (Inside Airbnb ne relève que quelques villes, et la "
            "hausse des VTC ne se mesure qu'avec la BPE courante). Le quadrant ne peut pas être dessiné ; le classement "
            "ci-dessous montre l'adoption collaborative.", icon=":material/info:")

# -- bivariate map -------------------------------------------------------------------------------
st.subheader("Carte")
codes = tuple(sorted(scope_rows["code"]))
feats = data.features(scope.niveau, codes)
fills = {c: equilibre.bivariate_colour(a, b) for c, a, b in scope_rows.select("code", "classe_c", "classe_p").iter_rows()}
extra = {c: f"collaboratif {fmt.number(a)} · plateformes {fmt.number(b)}" for c, a, b in
         scope_rows.select("code", "indice_collaboratif", "indice_plateformes").iter_rows()}
# the same map for every view of this territory, scope and unticked components: built once per data version
deck = data.per_version("eq_carte", (scope, frozenset(excluded), t.code), lambda: maps.choropleth(
    feats, dict(scope_rows.select("code", "indice_collaboratif").iter_rows()),
    dict(scope_rows.select("code", "nom").iter_rows()), value_label="Indice collaboratif", unit="", decimals=0,
    highlight=[t.code], fills=fills, extra_tooltip=extra, layer_id="territoires"))
layout.clickable_map(deck, t, scope.niveau, key="eq_carte")
legend_col, note_col = st.columns([1, 2])
with legend_col:
    st.markdown(equilibre.bivariate_legend_html(), unsafe_allow_html=True)
with note_col:
    st.caption("Couleur : terciles des deux indices (0-33, 33-67, 67-100) ; en blanc bordé de gris, un des indices "
               "manque (indice partiel ou pas de mesure). Palette lisible par les daltoniens. Cliquer sur un territoire pour "
               "l'afficher.")

# -- ranking ---------------------------------------------------------------------------------------
st.subheader("Classement")
comp_cols = [c for comps in COMPONENTS.values() for c in (x.indicateur for x in comps) if c in scope_rows.columns]
tables.show(equilibre.ranking(scope_rows), alt=f"Classement : {equilibre.scope_label(scope, names)}",
            key="eq_classement")
st.caption("Trier en cliquant sur un en-tête. Chaque indice n'apparaît que complet : tous les territoires notés le "
           "sont sur les mêmes composantes (valeurs à leur période de comparaison ; 0 = aucun lieu ou trajet recensé). "
           + layout.source_note(["indice_collaboratif", "indice_plateformes", *comp_cols]))
with st.expander("Valeurs des composantes de ce classement"):
    comp_table, comp_formats = equilibre.components_table(scope_rows, data.catalogue())
    tables.show(comp_table, comp_formats, alt="Valeurs des composantes des territoires classés",
                key="eq_composantes", column_config={"Territoire": st.column_config.TextColumn(pinned=True)})
partial = scope_rows.filter(pl.col("statut_indice_collaboratif").is_in(["partiel"])
                            | pl.col("statut_indice_plateformes").is_in(["partiel", "sans mesure"]))
if partial.height:
    listed = equilibre.agreed(scope.niveau, "listé")
    st.markdown(f"**Indice partiel** : {fmt.number(partial.height)} {what} de cette vue, {listed} à part, sans note")
    st.table(pl.DataFrame({  # sentences: a static table wraps them
        "Territoire": partial["nom"],
        "Adoption collaborative": partial["raison_indice_collaboratif"].fill_null("indice complet"),
        "Pénétration des plateformes": partial["raison_indice_plateformes"].fill_null("indice complet"),
    }), hide_index=True, alt="Territoires à l'indice partiel et pourquoi")

# -- peers -----------------------------------------------------------------------------------------
def component_text(component: str, value: float | None, status: str) -> str:
    """A component's value with its unit ("3,4 %", "oui"), or what its absence means."""
    if status == "aucun":
        return COMPONENT_META[component].absent_texte
    answer = valeurs.valeur(t.niveau, t.code, component)
    return fmt.with_unit(value, answer.unite, answer.decimales)


if t.niveau != "france":
    st.subheader("Face aux territoires comparables")
    if peers.height:
        st.caption(layout.md(compare.peer_summary(t, territoires) + " " + ", ".join(peers["nom"].to_list()) + "."))
        standing = equilibre.standing_among(ranks, t.code, t.niveau, list(peer_codes))
        if standing.height:
            st.table(pl.DataFrame({  # rows of different units, sentences: a static table
                "Composante": [labels[c] for c in standing["composante"]],
                "Valeur": [component_text(c, v, s) for c, v, s in
                           standing.select("composante", "valeur", "statut").iter_rows()],
                "Période": [fmt.period(p) for p in standing["periode"]],
                "Nature": [fmt.nature_label(n) or "mesuré" for n in standing["nature"]],
                "Position en France": [equilibre.position_text(v, t.niveau) for v in standing["rang"]],
                "Parmi les comparables": [equilibre.peer_standing_text(v, n) for v, n in
                                          standing.select("rang_pairs", "n_pairs").iter_rows()],
            }), hide_index=True, alt=f"Composantes de {t.nom} face aux territoires comparables")
        else:
            st.info("Aucune composante classée n'est connue pour ce territoire.")
    else:
        st.info(layout.md(compare.peer_summary(t, territoires)))

# -- brief ----------------------------------------------------------------------------------------
if t.niveau != "france":
    st.subheader("Fiche territoire")
    st.download_button(
        "Télécharger la fiche territoire (PDF, 2 pages A4)",
        data=lambda: guard.call(fiche.brief_pdf, t.niveau, t.code, what="la fiche PDF"),
        file_name=fiche.file_name(t), mime="application/pdf", icon=":material/picture_as_pdf:",
        on_click="ignore",
    )
    st.caption("La fiche reprend les chiffres de cette page. Les fiches de toutes les communes d'un département "
               "se produisent en une fois depuis le dépôt du projet (voir sa documentation, docs/equilibre.md).")

with st.expander("Méthode"):
    st.markdown(
        "- **Période** : chaque composante est comparée sur une même période pour tous les territoires d'un niveau "
        "(l'année plutôt que les mois, celle que le plus de territoires ont) ; une valeur mesurée passe avant une "
        "estimation, une estimation avant une simulation.\n"
        "- **Position** : la part des territoires que le territoire devance, de 0 à 100 (« au-dessus de 63 % des "
        f"{equilibre.LEVEL_PLURAL[scope.niveau]} »), parmi ceux qui ont une valeur : (rang moyen − 1) / (nombre de "
        "territoires − 1) × 100 ; la plus faible valeur vaut 0, la plus forte 100, les ex-aequo partagent leur rang. "
        "Un territoire sans lieu de covoiturage recensé, ou sans trajet publié (moins de 6 "
        "par mois), se classe avec la valeur 0 ; hors de la couverture d'une source (Inside Airbnb), il n'a pas de "
        "valeur.\n"
        f"- **Composantes classées** : une composante connue pour moins de {MIN_TERRITORIES} territoires d'un niveau "
        "n'y est pas classée ; elle est montrée comme contexte.\n"
        "- **Indice** : moyenne des positions sur toutes les composantes classées au niveau ; s'il en manque une, pas de "
        "note (« indice partiel », listé à part), pour que deux indices d'un même niveau reposent sur les mêmes "
        "composantes. Une commune sans habitant n'a pas d'indice.\n"
        "- **Plateformes** : il faut au moins une mesure (annonces Inside Airbnb, ou hausse des taxis-VTC depuis 2013 "
        "quand la BPE courante est chargée) : le nombre de taxis, surtout des taxis conventionnés à la campagne, ne "
        "mesure pas les plateformes.\n"
        "- **Nature** : l'indice prend la nature la plus faible de ses composantes (simulé, puis estimé, puis réel).\n"
        "- **Limites** : le registre de preuve de covoiturage ne compte que les trajets des opérateurs partenaires "
        "(environ 15 % du covoiturage du quotidien), et ses répartitions entre communes sont simulées ici ; Inside "
        "Airbnb ne couvre que quelques villes ; les tiers-lieux datent de 2019 ; la base des lieux de covoiturage "
        "n'est pas exhaustive ; sans la BPE actuelle (voir la section « Rafraîchir les données » du fichier README "
        "du projet), les VTC ne sont pas mesurés."
    )
