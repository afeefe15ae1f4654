"""Page "Mon territoire" (`/`): the verdict first, one tile per domain, then the territory in detail."""

import polars as pl
import streamlit as st

from dashboard import accueil, compare, data, equilibre, fmt, layout, maps, state, tables, valeurs
from dashboard import locations as loc
from dashboard.navigation import PAGES_DIR
from dashboard.territory import LEVEL_LABELS, names_of, neighbourhood, parents, rows_of
from etl import periods

t = state.current()
territoires = data.territoires()
row = rows_of(territoires, [t.key]).row(0, named=True)
chain = parents(territoires, t)
peers = compare.comparables(territoires, t)
peer_keys = list(zip(peers["niveau"], peers["code"], strict=True))

st.title(t.nom)
st.caption(layout.md(accueil.identity_line(t, row, valeurs.valeur, LEVEL_LABELS[t.niveau])))
housing = valeurs.valeur(t.niveau, t.code, "logements")
if housing.manque and housing.raison and "Logements" in housing.raison:
    st.warning(housing.raison + " Les taux rapportés aux logements de cette commune ne sont pas affichés.",
               icon=":material/home:")

# -- the answer: where the territory stands, and why ---------------------------------------------------
st.subheader("Collaboratif ou plateformes ?")
stored_table, stored_index = data.indexed_table("equilibre/indices.parquet")
if t.niveau != "france":
    span = stored_index.get(t.key)
    me = stored_table.slice(*span).row(0, named=True) if span else {}
    for key in accueil.POSITIONS:  # the figure every page shows: the one answer of `dashboard.valeurs`
        me[key] = valeurs.valeur(t.niveau, t.code, key).valeur if me else None
    st.info(layout.md(equilibre.verdict(me, t.nom, t.niveau)), icon=":material/record_voice_over:")
    cols = st.columns(2)
    for col, (key, title) in zip(cols, accueil.POSITIONS.items(), strict=True):
        with col:
            st.metric(title, accueil.index_text(me.get(key)), border=True,
                      help="Note de 0 à 100 : où se situe le territoire parmi ceux de même niveau (voir la page "
                           "Équilibre). Position « " + (me.get("quadrant") or "non classé") + " » : seuil à 50.")
            st.caption(layout.md(me.get(f"raison_{key}") or "Territoire sans habitant : pas d'indice."))
else:
    st.markdown(accueil.national_picture(stored_table))
    scope = equilibre.Scope("departement", "france", "FR")
    scope_rows = equilibre.served_table(scope)  # built once per data version (the page "Équilibre" shares it)
    codes = tuple(sorted(scope_rows["code"]))
    values = dict(scope_rows.select("code", "indice_collaboratif").iter_rows())
    names = dict(scope_rows.select("code", "nom").iter_rows())
    bivariate = equilibre.both(scope_rows).height >= 3
    fills = ({c: equilibre.bivariate_colour(a, b) for c, a, b in
              scope_rows.select("code", "classe_c", "classe_p").iter_rows()} if bivariate else None)
    deck = data.per_version("accueil_carte_france", None, lambda: maps.choropleth(
        data.features("departement", codes), values, names, value_label="Indice collaboratif", unit="/ 100",
        decimals=0, fills=fills))
    layout.clickable_map(deck, t, "departement", key="accueil_carte_france")
    if bivariate:
        st.markdown(equilibre.bivariate_legend_html(), unsafe_allow_html=True)
    else:
        layout.map_legend(maps.legend(values, "/ 100", 0, codes=codes, missing_label="pas d'indice"))
    st.caption(("Équilibre des départements (terciles des deux indices). " if bivariate else
                "Indice d'adoption collaborative des départements (0 à 100), faute de mesure des plateformes à ce "
                "niveau. ") + maps.INSET_NOTE + " Cliquer sur un département pour l'afficher. "
               + layout.source_note(["indice_collaboratif", "indice_plateformes"]))
st.page_link(PAGES_DIR / "equilibre.py", label="Comprendre l'équilibre : composantes, quadrant, classement, fiche PDF",
             icon=":material/balance:", query_params=state.link_params(t))

# -- one tile per domain ------------------------------------------------------------------------------
st.subheader("Les quatre domaines")
absences = {}
try:
    detail = data.table("locations/territoires.parquet")
    instantanes = data.table("locations/instantanes.parquet")
    str_status = loc.status(t, detail, territoires)
    if str_status == loc.NOT_COVERED:
        absences["locations_courte_duree"] = ("Inside Airbnb ne relève pas ce territoire : pas de mesure des "
                                              "locations de courte durée ici (ce n'est pas un zéro).")
    elif str_status == loc.PARTIAL:
        absences["locations_courte_duree"] = ("Inside Airbnb ne relève qu'une partie de ce territoire : pas de total "
                                              "ici ; la page montre les territoires couverts qu'il contient.")
except FileNotFoundError:
    pass
tiles = accueil.tiles(t, valeurs.valeur, peer_keys, valeurs.evolution, absences)
grid = [*st.columns(2), *st.columns(2)]  # 2 × 2: a tile's label and sentences keep their width at 1280 px
for col, tile in zip(grid, tiles, strict=True):
    with col, st.container(border=True):
        st.markdown(f"**{tile.domain.titre}** · {tile.domain.famille.lower()}")
        if tile.absence:
            st.markdown(layout.md(tile.absence))
        else:
            st.metric(tile.figure.libelle, tile.valeur_texte)
            st.caption(layout.md(" · ".join(x for x in (tile.figure.quand(), tile.detail_texte) if x)))
            for text in (tile.comparaison, tile.tendance):
                if text:
                    st.markdown(layout.md(text))
            for note in tile.notes:
                st.caption(layout.md(note))
        st.page_link(PAGES_DIR / tile.domain.page, label=f"Voir la page {tile.domain.titre}",
                     icon=":material/arrow_forward:", query_params=state.link_params(t))
if t.niveau != "france":
    st.caption("Comparaison : " + layout.md(compare.peer_summary(t, territoires)))

# -- the territory in detail -----------------------------------------------------------------------------
st.divider()
st.subheader("Le territoire en détail")
if chain:
    with st.container(horizontal=True, gap="small"):
        for p in chain:
            text = p.nom if p.niveau == "france" else f"{LEVEL_LABELS[p.niveau].capitalize()} : {p.nom}"
            st.page_link(st.session_state["page_courante"], label=text,
                         query_params=state.link_params(p), icon=":material/north_west:")

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
    # the same map for every view of this territory and indicator: built once per data version
    deck = data.per_version("carte_territoire", (t, indicator), lambda: maps.choropleth(
        feats, values, names, value_label=meta["libelle"], unit=meta["unite"], decimals=meta["decimales"],
        highlight=[t.code]))
    layout.clickable_map(deck, t, map_level, key="carte_territoire")
    shown_periods = periods.sort(values_df["periode"].unique().to_list())
    natures = [fmt.nature_label(n) for n in sorted(set(values_df["nature"].to_list())) if fmt.nature_label(n)]
    layout.map_legend(maps.legend(values, meta["unite"], meta["decimales"], codes=codes))
    missing = len(codes) - len(feats)
    st.caption(
        f"{meta['libelle']}" + (f" ({', '.join(fmt.period(p) for p in shown_periods)}"
                                + (f" ; {', '.join(natures)}" if natures else "") + ")" if shown_periods else "")
        + ". " + (maps.INSET_NOTE + " " if maps.has_insets(deck) else "")
        + "Cliquer sur un territoire pour l'afficher. " + layout.source_note([indicator])
        + (f" · {fmt.number(missing)} territoire{'s' if missing > 1 else ''} sans contour disponible." if missing > 0
           else "")
    )
else:
    st.info("Pas de carte disponible pour ce territoire.")

# -- indicators beside the parents ---------------------------------------------------------
st.markdown("**Indicateurs comparés**")
table = compare.comparison_table(valeurs.rows_for([t.key, *[p.key for p in chain]]), catalogue, t, chain)
if table.height:
    # a static table: its cells wrap (nothing cut on a phone), rows are indicators of different units
    st.table(compare.comparison_display(table, t, chain), hide_index=True,
             alt=f"Indicateurs de {t.nom} comparés à ceux de ses territoires parents et de la France")
    st.caption("Chaque case est la valeur du territoire à sa dernière période connue (entre parenthèses quand elle "
               "diffère de celle du territoire choisi). Les taux sont recalculés à chaque niveau à partir des sommes "
               "des communes, jamais moyennés. " + layout.source_note(["population", "logements", "densite"]))
else:
    st.info("Aucun indicateur disponible pour ce territoire.")

# -- comparable territories ----------------------------------------------------------------
if t.niveau != "france":
    st.markdown("**Territoires comparables**")
    st.caption(layout.md(compare.peer_summary(t, territoires)))
    if peers.height:
        dep_names = names_of(territoires, "departement")
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
