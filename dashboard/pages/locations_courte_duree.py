"""Page "Locations de courte durée": Airbnb listings (Inside Airbnb) per covered territory and snapshot."""

import polars as pl
import streamlit as st

from dashboard import data, fmt, freshness, layout, maps, state, tables
from dashboard import locations as loc
from dashboard.territory import LEVEL_LABELS

t = state.current()
territoires = data.territoires()
st.title("Locations de courte durée")

try:
    detail = data.table("locations/territoires.parquet")
    instantanes = data.table("locations/instantanes.parquet")
except FileNotFoundError:
    detail = instantanes = None


def not_covered() -> None:
    """A French message naming the covered cities and dates, and links to them."""
    st.info(
        f"**{layout.md(t.nom)} : territoire non couvert par Inside Airbnb.** Aucune donnée de location de courte durée "
        f"n'est disponible pour ce territoire (ce n'est pas un zéro). Territoires et instantanés couverts : "
        f"{layout.md(coverage)}.",
        icon=":material/info:",
    )
    st.markdown("Ouvrir un territoire couvert :")
    with st.container(horizontal=True, gap="small"):
        for row in loc.cities(instantanes).iter_rows(named=True):
            if row["perimetre_code"]:
                st.page_link(st.session_state["page_courante"], label=row["perimetre"], icon=":material/map:",
                             query_params={"niveau": row["perimetre_niveau"], "code": row["perimetre_code"]})


def partial() -> None:
    """A territory covered in part: the covered territories it holds, on a table and a map."""
    st.info(
        f"**{layout.md(t.nom)} : territoire couvert en partie seulement.** Inside Airbnb ne relève que certaines villes "
        f"({layout.md(coverage)}). Aucun total n'est donc calculé pour ce territoire ; voici les territoires "
        "couverts qu'il contient.",
        icon=":material/info:",
    )
    level_order = {"epci": 0, "commune": 1, "arrondissement": 2}
    here = inner.filter(pl.col("instantane") == period).sort(
        pl.col("niveau").replace_strict(level_order, default=0), fmt.sort_key_expr("nom"), "code")
    vals = loc.values(indicateurs, zip(here["niveau"], here["code"], strict=True), period)
    keys = list(zip(here["niveau"], here["code"], strict=True))
    shown, formats = loc.indicator_table(vals, keys, here["nom"].to_list(), [
        "str_annonces", "str_annonces_pour_100_logements", "str_part_logement_entier", "str_part_numero_valide"], meta)
    shown = shown.with_columns(pl.Series("Niveau", [LEVEL_LABELS[n] for n, _ in keys], dtype=pl.String))
    sel = tables.show(shown, formats, alt=f"Territoires couverts par Inside Airbnb dans {t.nom}", on_select="rerun",
                      selection_mode="single-row", key="str_couverts")
    st.caption(f"Sélectionner une ligne pour ouvrir ce territoire. {loc.SOURCE_NOTE}, {vintage}.")
    rows = sel.selection.rows if sel else []
    if rows:
        chosen = here.row(rows[0], named=True)
        state.select(chosen["niveau"], chosen["code"])
        st.rerun()
    if t.niveau in ("france", "region"):  # covered cities lie far apart: no map at this scale
        return
    niveau, codes = loc.map_units(t, detail, territoires, period)
    if codes:
        st.subheader("Annonces pour 100 logements dans les communes couvertes")
        values = dict(loc.values(indicateurs, [(niveau, c) for c in codes], period).filter(
            pl.col("indicateur") == "str_annonces_pour_100_logements").select("code", "valeur").iter_rows())
        feats = data.features(niveau, tuple(codes))
        m = meta["str_annonces_pour_100_logements"]
        st.pydeck_chart(maps.choropleth(feats, values, {c: names.get((niveau, c), c) for c in codes},
                                        value_label=m["libelle"], unit=m["unite"], decimals=2),
                        height=maps.MAP_HEIGHT)
        st.markdown(maps.legend_html(maps.legend(values, "", 2, codes=codes)), unsafe_allow_html=True)
        st.caption(f"{loc.SOURCE_NOTE}, {vintage} ; logements : Insee, recensement 2021.")


def covered() -> None:
    """Key figures, map, breakdowns, nights, evolution, comparison and listings of a covered territory."""
    # -- key figures ---------------------------------------------------------------------------------
    prev = loc.previous(period, periods)
    row = loc.detail_row(detail, t, period)
    mine = loc.values(indicateurs, [t.key], period)
    before = loc.values(indicateurs, [t.key], prev) if prev else mine.head(0)
    peer_df = loc.peers(t, detail, territoires, period)
    peer_vals = loc.values(indicateurs, zip(peer_df["niveau"], peer_df["code"], strict=True), period)
    what = {"commune": "communes et arrondissements couverts", "arrondissement": "communes et arrondissements couverts",
            "epci": "intercommunalités couvertes"}.get(t.niveau, "territoires couverts")
    others = [(n, c, label) for n, c, label in loc.perimeters(instantanes, period) if (n, c) != t.key]
    other_vals = loc.value_map(loc.values(indicateurs, [(n, c) for n, c, _ in others], period))
    mine_map, before_map = loc.value_map(mine), loc.value_map(before)

    st.subheader(f"Chiffres clés · {fmt.period(period)}")
    if row and row["annonces"] < loc.SMALL_COUNT:
        st.warning(f"Seulement {row['annonces']} annonces : les parts sont fragiles.", icon="⚠️")
    grid = st.columns(3) + st.columns(3)
    for col, (ind, label) in zip(grid, loc.KEY_FIGURES, strict=True):
        m = meta[ind]
        v = loc.value_of(mine_map, t, ind)
        b = loc.value_of(before_map, t, ind) if prev else None
        estimate = any(mine.filter(pl.col("indicateur") == ind)["nature"] == "estime")
        delta = loc.change_text(b, v, m["unite"], m["decimales"]) if prev and not fmt.is_missing(b) else None
        with col:
            st.metric(label + (" (estimation)" if estimate else ""), loc.short_value(v, m["unite"], m["decimales"]),
                      delta=delta, delta_color="off", border=True)  # definitions below, no "Help for …" tooltip
            parts = [f"{names.get((n, c), c)} : {loc.short_value(loc.value_of(other_vals, (n, c), ind), m['unite'], m['decimales'])}"
                     for n, c, _ in others]
            rank = loc.rank_text(loc.rank_among(t, peer_vals, ind), what)
            st.caption(" · ".join([*parts, rank] if rank else parts))
    layout.definitions([(label, meta[ind]["definition"]) for ind, label in loc.KEY_FIGURES])
    ranked_note = f"Rang : du plus élevé au plus faible parmi les {what}. " if peer_df.height >= 3 else ""
    st.caption((f"Évolution depuis {fmt.period(prev)}. " if prev else "") + ranked_note
               + f"Nuitées : estimation (modèle d'Inside Airbnb, voir plus bas). {loc.SOURCE_NOTE}, {vintage}.")

    # -- map of listings -------------------------------------------------------------------------------
    st.subheader("Carte des annonces")
    view = loc.listings_view(t, period)
    listings, niveau, codes = view.listings, view.niveau, view.codes
    st.pydeck_chart(view.deck, height=maps.MAP_HEIGHT, key="str_carte_annonces")
    st.markdown(maps.legend_html([(maps.hex_colour(c), name) for name, c in loc.ROOM_COLOURS.items() if name != "Autre"],
                                 round_marks=True), unsafe_allow_html=True)
    st.caption(f"{fmt.number(listings.height)} annonces, {vintage}. Les positions sont approximatives (Airbnb les "
               f"décale d'une centaine de mètres). Survoler un point pour voir l'annonce. {loc.SOURCE_NOTE}.")

    # -- choropleth beside secondary homes ----------------------------------------------------------------
    if len(codes) > 1:
        st.subheader("Annonces pour 100 logements et résidences secondaires")
        feats = data.features(niveau, tuple(codes))
        unit_names = {c: names.get((niveau, c), c) for c in codes}
        left, right = st.columns(2)
        m = meta["str_annonces_pour_100_logements"]
        values = dict(loc.values(indicateurs, [(niveau, c) for c in codes], period).filter(
            pl.col("indicateur") == "str_annonces_pour_100_logements").select("code", "valeur").iter_rows())
        secondary = dict(territoires.filter((pl.col("niveau") == niveau) & pl.col("code").is_in(codes)).select(
            "code", "part_residences_secondaires").iter_rows())
        highlight = [t.code] if t.niveau == niveau else []
        for col, vals, label, unit, dec, src in (
            (left, values, m["libelle"], m["unite"], 2, f"{loc.SOURCE_NOTE}, {vintage} ; logements : Insee 2021"),
            (right, secondary, "Part des résidences secondaires", "%", 1, "Source : Insee, recensement 2021"),
        ):
            with col:
                st.markdown(f"**{label}**")
                st.pydeck_chart(maps.choropleth(feats, vals, unit_names, value_label=label, unit=unit, decimals=dec,
                                                highlight=highlight, layer_id=f"choro_{unit[:3]}"), height=420)
                st.markdown(maps.legend_html(maps.legend(vals, unit if unit == "%" else "", dec, codes=codes)), unsafe_allow_html=True)
                st.caption(src + ".")


    # -- room types, hosts, registration ------------------------------------------------------------------
    if row:
        total = row["annonces"]
        a, b, c = st.columns(3)
        with a:
            st.subheader("Types de logement")
            rooms = loc.breakdown(row, loc.ROOM_TYPES).filter(pl.col("annonces") > 0)
            st.plotly_chart(loc.bar_chart(rooms, "classe", "annonces", horizontal=True,
                                colours=[maps.hex_colour(loc.ROOM_COLOURS[x]) for x in rooms["classe"]],
                                text=[f"{fmt.number(n)} ({fmt.with_unit(p, '%', 0)})" for n, p in
                                      rooms.select("annonces", "part").iter_rows()]),
                            config={"displayModeBar": False})
            st.caption(f"{fmt.number(total)} annonces. {loc.SOURCE_NOTE}, {vintage}.")
        with b:
            st.subheader("Hôtes")
            hosts = loc.breakdown(row, loc.HOST_CLASSES)
            st.plotly_chart(loc.bar_chart(hosts, "classe", "part", text=[fmt.with_unit(p, "%", 0) for p in hosts["part"]],
                                colours=["#6A80DE", "#3042B2", "#000091", "#E1000F"]),
                            config={"displayModeBar": False})
            st.caption(f"Part des annonces selon le nombre d'annonces de leur hôte dans le fichier de la ville ; "
                       f"{fmt.number(row['hotes'])} hôtes distincts. {loc.SOURCE_NOTE}, {vintage}.")
        with c:
            st.subheader("Enregistrement")
            lic = loc.breakdown(row, loc.LICENCE_CLASSES)
            if row["annonces_numero_connu"]:
                st.plotly_chart(loc.bar_chart(lic, "classe", "part", horizontal=True,
                                    colours=["#18753C", "#6A80DE", "#3042B2", "#E1000F", "#F28C8C"],
                                    text=[f"{fmt.number(n)} ({fmt.with_unit(p, '%', 0)})" for n, p in
                                          lic.select("annonces", "part").iter_rows()]),
                                config={"displayModeBar": False})
            else:
                st.info("Le fichier de cet instantané ne donne pas les numéros d'enregistrement.")
            st.caption("Bien formé : 13 caractères commençant par le code Insee de la commune (ou de l'arrondissement) "
                       "de l'annonce. Le numéro n'est exigé que là où la commune a institué l'enregistrement. "
                       f"{loc.SOURCE_NOTE}, {vintage}.")

    # -- nights against the 120-night cap ---------------------------------------------------------------
    st.subheader("Nuitées estimées des logements entiers et plafond de 120 nuits")
    nights = loc.nights_distribution(data.table("locations/nuitees.parquet"), t, period, entire=True)
    if nights.height:
        fig = loc.nights_chart(nights)
        st.plotly_chart(fig, config={"displayModeBar": False})
        above = loc.value_of(mine_map, t, "str_part_entiers_plus_120_nuits")
        st.caption(
            f"**Estimation** : {fmt.with_unit(above, '%', 1)} des logements entiers dépassent 120 nuitées estimées, "
            "plafond annuel de location d'une résidence principale. Modèle d'Inside Airbnb : commentaires des 12 "
            "derniers mois ÷ 50 % (un séjour sur deux laisse un commentaire) × durée de séjour (nuits minimum, au "
            "moins 3), plafonné à 255 nuits. Une résidence secondaire n'est pas soumise à ce plafond. "
            f"{loc.SOURCE_NOTE}, {vintage}.")
    else:
        st.info("Nuitées non calculables pour cet instantané.")

    # -- evolution and turnover -----------------------------------------------------------------------------
    st.subheader("Évolution entre instantanés")
    evo = loc.evolution_table(indicateurs, catalogue, t, periods)
    # rows of different units: a static table, whose cells wrap on a phone
    st.table(evo, hide_index=True, alt=f"Évolution des annonces de {t.nom} entre instantanés")
    flows = loc.turnover(data.table("locations/rotation.parquet"), t, period)
    if flows.height:
        st.markdown(loc.turnover_sentence(flows))
        fig = loc.turnover_chart(flows)
        st.plotly_chart(fig, config={"displayModeBar": False})
        st.caption("Annonces comparées par identifiant Airbnb dans tout le fichier de la ville ; une annonce présente "
                   "aux deux dates ou apparue est comptée là où elle se trouve au second instantané, une annonce "
                   f"disparue là où elle était au premier. {loc.SOURCE_NOTE}.")
    elif prev is None and len(periods) == 1:
        st.caption("Un seul instantané : pas d'évolution calculable.")
    elif prev is None:
        st.caption(f"{fmt.period(period)} est le premier instantané : choisir un instantané plus récent pour voir "
                   "les annonces apparues et disparues depuis.")

    # -- comparison among covered territories -----------------------------------------------------------
    st.subheader("Comparaison avec les territoires couverts")
    ranked = peer_vals.filter(pl.col("indicateur") == "str_annonces_pour_100_logements").sort("valeur", descending=True)
    table_keys = [t.key, *[(n, c) for n, c, _ in others], *zip(ranked["niveau"], ranked["code"], strict=True)]
    table_keys = list(dict.fromkeys(table_keys))
    vals = loc.values(indicateurs, table_keys, period)
    shown, formats = loc.indicator_table(
        vals, table_keys, [("▶ " if k == t.key else "") + names.get(k, k[1]) for k in table_keys],
        ["str_annonces_pour_100_logements", "str_annonces", "str_part_logement_entier", "str_part_hotes_multi",
         "str_part_numero_valide", "str_prix_median"], meta)
    shown = shown.with_columns(pl.Series("Niveau", [LEVEL_LABELS[n] for n, _ in table_keys], dtype=pl.String))
    tables.show(shown, formats, alt=f"{t.nom} parmi les territoires couverts par Inside Airbnb", key="str_comparaison")
    st.caption(f"Le territoire, les périmètres couverts, puis les {what} du plus au moins dense en annonces. "
               f"Inside Airbnb ne couvre que {layout.md(coverage)}. {loc.SOURCE_NOTE}, {vintage}.")

    # -- listings -------------------------------------------------------------------------------------------
    st.subheader("Annonces")
    choice = st.selectbox("Afficher", ["toutes les annonces", *loc.LICENCE_LABELS.values()], key="str_filtre_numero",
                          filter_mode=None)  # a short list: no typing, so no English "No results"
    table = loc.listings_table(listings)
    if choice != "toutes les annonces":
        table = table.filter(pl.col("Enregistrement") == choice)
    tables.show(table, {"Prix par nuit": tables.Number(0, "€")}, alt=f"Annonces Inside Airbnb de {t.nom}", height=360,
                key="str_annonces")
    # built when clicked (as the PDF brief of "Équilibre"): writing every listing as CSV cost about 0.1 s per view
    st.download_button(
        "Télécharger ces annonces (CSV)", lambda: loc.csv_bytes(table.rename({"Prix par nuit": "Prix par nuit (€)"})),
        file_name=f"annonces_{t.code}_{period}.csv", mime="text/csv", key="str_telecharger", on_click="ignore",
    )
    st.caption((f"{fmt.number(table.height)} annonce{'s' if table.height > 1 else ''}. " if table.height else
                "Aucune annonce dans cette catégorie. ") + "Les titres d'annonces sont reproduits tels qu'Inside Airbnb les publie. "
               f"{loc.SOURCE_NOTE} : toute réutilisation doit citer « Inside Airbnb ».")



def _on_period() -> None:
    st.query_params[loc.PERIOD_PARAM] = st.session_state["str_instantane"]


def snapshot_selector(periods: list[str]) -> str:
    """The snapshot shown: from the link (`?instantane=`) when valid, else the latest; kept in the link."""
    period, message = loc.choose_period(st.query_params.get(loc.PERIOD_PARAM), periods)
    if message:
        st.warning(message, icon="⚠️")
    st.session_state["str_instantane"] = period
    st.radio("Instantané Inside Airbnb", periods, format_func=fmt.period, key="str_instantane", horizontal=True,
             on_change=_on_period)
    st.caption("Date du relevé des annonces par Inside Airbnb. Le lien de la page garde l'instantané choisi.")
    st.query_params[loc.PERIOD_PARAM] = period
    return period


if detail is None:
    st.error(freshness.missing_sentence("Les annonces Inside Airbnb manquent dans ce dossier de données",
                                        data.manifest(), ["insideairbnb"]))
else:
    st.caption(f"{t.nom} ({LEVEL_LABELS[t.niveau]}) · annonces Airbnb relevées par Inside Airbnb · "
               f"Source : {loc.ATTRIBUTION}")
    coverage = loc.coverage_sentence(instantanes)
    status = loc.status(t, detail, territoires)
    if status == loc.NOT_COVERED:
        not_covered()
    else:
        inner = loc.inside(t, detail, territoires) if status == loc.PARTIAL else None
        periods = loc.periods_of(detail, t) if status == loc.COVERED else loc.etl_periods.sort(inner["instantane"].unique().to_list())
        period = snapshot_selector(periods)
        last_review = instantanes.filter(pl.col("instantane") == period)["dernier_commentaire"].max()
        vintage = f"instantané de {fmt.period(period)}" + (
            f" (dernier commentaire : {fmt.period(last_review)})" if last_review else "")
        indicateurs = data.indicateurs_of("str_")  # every figure of this page is a `str_*` row
        catalogue = data.catalogue()
        meta = {r["indicateur"]: r for r in catalogue.iter_rows(named=True)}
        names = data.territory_names()
        if status == loc.PARTIAL:
            partial()
        else:
            covered()
