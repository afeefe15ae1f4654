"""Page "Covoiturage": trips of the registry, carpool places and incentive campaigns of a territory."""

import polars as pl
import streamlit as st

from dashboard import compare, data, fmt, freshness, layout, maps, state, tables, valeurs
from dashboard import covoiturage as cov
from dashboard.territory import parents

PERIOD_PARAM = "periode"
KIND_KEY, VALUE_KEY, SEEN_KEY = "covoit_type_periode", "covoit_periode", "covoit_periode_url"
KINDS = {"mois": "Mois", "trimestre": "Trimestre", "annee": "Année"}

t = state.current()
territoires = data.territoires()
chain = parents(territoires, t)
st.title(f"Covoiturage du quotidien : {layout.md(t.nom)}")
st.info(cov.CAVEAT, icon=":material/info:")

try:
    mensuel = data.table("covoiturage/mensuel.parquet")
    flux = data.table("covoiturage/flux.parquet")
    heures = data.table("covoiturage/heures.parquet")
    distances = data.table("covoiturage/distances.parquet")
    etranger = data.table("covoiturage/etranger.parquet")
    aires = data.table("covoiturage/aires.parquet")
    campagnes = data.table("covoiturage/campagnes.parquet")
except FileNotFoundError:
    st.warning(freshness.missing_sentence("Les données de covoiturage manquent dans ce dossier de données",
                                          data.manifest(), ["rpc", "bnlc", "incitations_covoiturage",
                                                            "mobilites_durables"]))
    st.stop()

# -- period (kept in the URL: ?periode=2024, 2024-T1 or 2024-03) -------------------------------
available = cov.available_months()
options = cov.periods(available)
period, message = cov.parse_period(st.query_params.get(PERIOD_PARAM), available)
if message:
    st.warning(message, icon="⚠️")
st.query_params[PERIOD_PARAM] = period.key
if st.session_state.get(SEEN_KEY) != period.key:  # a link or the first visit: widgets follow the URL
    st.session_state[KIND_KEY] = period.kind
    st.session_state[VALUE_KEY] = period.key
    st.session_state[SEEN_KEY] = period.key


def _set_period(key: str) -> None:
    st.query_params[PERIOD_PARAM] = key
    st.session_state[SEEN_KEY] = key
    st.session_state[VALUE_KEY] = key


def _on_kind() -> None:
    kind = st.session_state.get(KIND_KEY) or period.kind
    st.session_state[KIND_KEY] = kind
    _set_period(options[kind][-1].key)


with st.container(horizontal=True, vertical_alignment="bottom"):
    st.segmented_control("Période", [k for k in KINDS if options[k]], format_func=KINDS.get, key=KIND_KEY,
                         on_change=_on_kind)
    choices = {p.key: p.label for p in options[st.session_state[KIND_KEY] or period.kind]}
    if st.session_state.get(VALUE_KEY) not in choices:
        st.session_state[VALUE_KEY] = period.key if period.key in choices else next(reversed(choices))
    st.selectbox("Choisir", list(choices), format_func=choices.get, key=VALUE_KEY, label_visibility="collapsed",
                 on_change=lambda: _set_period(st.session_state[VALUE_KEY]), width=260,
                 filter_mode=None)  # a short list: no typing, so no English "No results"

sums = cov.period_sums_of(period)  # every territory's sums for the period, built once and shared
mine = cov.figures(mensuel, territoires, t, period, sums=sums)
simulated = bool(mine and mine["simule"]) or (mine is None and (mensuel["nature"] == "simule").any())
if simulated:
    st.warning(cov.SIMULATED.format(periode=period.label), icon=":material/science:")
vintage = f"{period.label}{' (données simulées)' if simulated else ''}"

# -- key figures ------------------------------------------------------------------------------
keys = [t.key, *[p.key for p in chain]]


def stock(niveau: str, code: str, indicator: str) -> float | None:
    """A figure of the carpool places and campaigns: the one answer of `dashboard.valeurs`."""
    return valeurs.valeur(niveau, code, indicator).valeur


nearest = next((p for p in chain if p.niveau != "france"), None)
table = cov.comparison(mensuel, territoires, t, chain, compare.comparables(territoires, t), period, sums=sums)


def parent_value(col: str, unit: str, decimals: int) -> str:
    parts = []
    for p in [nearest, chain[-1] if chain else None]:
        if p is None:
            continue
        row = table.filter((pl.col("niveau") == p.niveau) & (pl.col("code") == p.code))
        value = row[col][0] if row.height else None
        parts.append(f"{p.nom} : {fmt.with_unit(value, unit, decimals)}")
    return " · ".join(dict.fromkeys(parts))


get = (lambda k: mine[k]) if mine else (lambda k: None)
trips = get("trajets")
cards = [
    ("Trajets", fmt.number(trips), f"Départ ou arrivée dans le territoire, {period.label}", None),
    ("Trajets pour 1 000 hab.", fmt.number(get("trajets_pour_1000_hab"), 1), None, ("trajets_pour_1000_hab", "", 1)),
    ("Trajets internes", cov.share_text(get("part_interne"), trips, "%", 1), "Départ et arrivée dans le territoire",
     None),
    ("Pers. par voiture", cov.share_text(get("taux_occupation"), trips, "", 2),
     "Taux d'occupation (observatoire) : (km passagers + km conducteurs) / km conducteurs", ("taux_occupation", "", 2)),
    ("Avec incitation", cov.share_text(get("part_incitation"), trips, "%", 1),
     "Part des trajets avec une incitation financière de toute origine (collectivité, employeur, opérateur, "
     "programme national) : pas seulement les campagnes des collectivités", None),
    ("CO2 évité", fmt.with_unit(get("co2_evite_t"), "t", 1), "195 g par km passager (ADEME)", None),
]
cols = [*st.columns(3), *st.columns(3)]
for col, (label, value, note, comp) in zip(cols, cards, strict=True):
    with col:
        st.metric(label, value)  # no help= tooltip: Streamlit names it "Help for …" in English
        parts = [note, parent_value(*comp) if comp and t.niveau != "france" else None]
        if any(parts):
            st.caption(" · ".join(p for p in parts if p))
if mine is None:
    st.info(f"Aucun trajet du registre n'a son départ ou son arrivée ici en {period.label} : pas de donnée.")
elif period.kind == "mois" and mine["trajets"] < cov.SMALL_COUNT:
    st.caption(f"Effectif faible (moins de {cov.SMALL_COUNT} trajets dans le mois) : le registre ne publie pas ces "
               "communes ; chiffre à lire avec prudence.")
if mine and mine["effectif_faible"]:
    st.caption(f"Moins de {cov.MIN_TRIPS_FOR_SHARE} trajets sur la période : les parts et le taux d'occupation ne "
               "sont pas calculés (« effectif faible »).")
real = valeurs.valeurs([k for k in keys if k[0] in ("epci", "commune")], ["covoit_trajets"]).filter(
    pl.col("source") == "mobilites_durables")
for r in real.iter_rows(named=True):
    who = next((x.nom for x in [t, *chain] if x.key == (r["niveau"], r["code"])), r["code"])
    st.caption(f"Total réel {r['periode']} publié pour {layout.md(who)} (tableau de bord des mobilités durables, "
               f"mêmes trajets du registre) : **{fmt.number(r['valeur'])} trajets**.")

cols = st.columns(4)
aires_n, places_n = stock(*t.key, "covoit_aires"), stock(*t.key, "covoit_places_aires")
unknown = stock(*t.key, "covoit_aires_capacite_inconnue")
campaign = stock(*t.key, "covoit_campagne_incitation")
with cols[0]:
    st.metric("Lieux de covoiturage", fmt.number(aires_n) if aires_n is not None else "aucun recensé")
    if unknown:
        st.caption(f"dont {fmt.number(unknown)} sans capacité renseignée")
with cols[1]:
    st.metric("Places recensées", fmt.number(places_n))
    st.caption("Somme des capacités renseignées : un minimum")
with cols[2]:
    value = stock(*t.key, "covoit_places_aires_pour_10000_hab")
    st.metric("Places pour 10 000 hab.", fmt.number(value, 1))
    if t.niveau != "france" and nearest:
        st.caption(f"{nearest.nom} : {fmt.number(stock(*nearest.key, 'covoit_places_aires_pour_10000_hab'), 1)}")
with cols[3]:
    share = stock(*t.key, "covoit_part_pop_campagne")
    if t.niveau in ("departement", "region", "france"):
        st.metric("Population couverte", fmt.with_unit(share, "%", 1))
        st.caption("Part de la population dont l'intercommunalité organise une campagne d'incitation au covoiturage")
    else:
        st.metric("Campagne d'incitation", fmt.NO_DATA if campaign is None else ("oui" if campaign else "non"))
        st.caption("Campagne d'incitation financière de l'intercommunalité (liste d'avril 2026). Des trajets peuvent "
                   "être incités sans elle (employeur, opérateur, programme national) : voir « Avec incitation ».")
epci_code = t.code if t.niveau == "epci" else t.code_epci
active = campagnes.filter(pl.col("code_siren") == epci_code) if epci_code else campagnes.head(0)
campaign_text = None
if active.height:
    c = active.row(0, named=True)
    campaign_text = (f"Campagne d'incitation de {c['nom_epci']} en cours (liste d'avril 2026, date de début non "
                     f"publiée) : {c['operateurs']}")
    bounds = [fmt.with_unit(c["distance_min_km"], "km", 0), fmt.with_unit(c["distance_max_km"], "km", 0)]
    st.caption(f"{layout.md(campaign_text)} ; trajets de {bounds[0]} à {bounds[1]} ; jusqu'à "
               f"{fmt.with_unit(c['montant_max_conducteur_mois'], '€', 0)} par mois pour un conducteur.")
st.caption(layout.source_note(["covoit_trajets", "covoit_aires", "covoit_campagne_incitation"])
           + f" · trajets : {vintage}")

# -- comparison table -------------------------------------------------------------------------
st.subheader("Comparaison")
if table.height:
    # shares on fewer than 10 trips are emptied and said so in "Note"; the comparables' median row keeps its own
    compared = cov.with_share_notes(
        table.with_columns(pl.when(pl.col("niveau") == "comparables").then(None).otherwise(pl.col("trajets"))
                           .alias("trajets")))
    tables.show(compared.select(
        pl.col("nom").alias("Territoire"),
        pl.col("trajets_pour_1000_hab").alias("Trajets pour 1 000 hab."),
        pl.col("part_interne").alias("Trajets internes"),
        pl.col("taux_occupation").alias("Personnes par voiture"),
        pl.col("part_incitation").alias("Avec incitation"),
        *([pl.col("Note")] if "Note" in compared.columns else []),
    ), {"Trajets pour 1 000 hab.": tables.Number(1), "Trajets internes": tables.PERCENT,
        "Personnes par voiture": tables.Number(2), "Avec incitation": tables.PERCENT},
        alt=f"Covoiturage de {t.nom} comparé à ses territoires parents ({period.label})", key="covoit_comparaison")
    peers = compare.comparables(territoires, t)
    if peers.height:
        st.caption(compare.peer_summary(t, territoires) + f" Période : {vintage}.")
else:
    st.info("Pas de comparaison possible : aucun trajet sur la période pour ce territoire et ses parents.")

# -- monthly series ---------------------------------------------------------------------------
st.subheader("Trajets par mois")
series = cov.monthly_series(cov.territory_rows("covoiturage/mensuel.parquet", t), t, available)
if series.height and series["trajets"].sum() > 0:
    share = stock(*t.key, "covoit_part_pop_campagne")
    note = campaign_text or (f"{fmt.with_unit(share, '%', 1)} de la population couverte par une campagne "
                             "d'incitation (liste d'avril 2026)" if share else None)
    st.plotly_chart(cov.monthly_chart(series, period, note), width="stretch", key="serie_mensuelle",
                    config={"displayModeBar": False})  # the mode bar's buttons are named in English
    empty = int(series["sans_trajet"].sum())
    st.caption("Barres bleues : la période choisie. Ligne rouge : part des trajets avec une incitation financière, "
               f"tracée les mois d'au moins {cov.MIN_TRIPS_FOR_SHARE} trajets. "
               + (cov.zero_months_sentence(empty, simulated) + " " if empty else "")
               + layout.source_note(["covoit_trajets"]) + (" · données simulées" if simulated else ""))
else:
    st.info("Aucun trajet du registre pour ce territoire, aucun mois : pas de série à tracer.")

# -- flows and places -------------------------------------------------------------------------
st.subheader("Flux de covoiturage et lieux de covoiturage")
pairs = cov.flows(flux, territoires, etranger, t, period, limit=cov.FLOW_LIMITS[t.niveau],
                  sums=cov.pair_sums_of(period))  # every pair summed once per data version and period
places = cov.places_for(aires, t)
xs = [*pairs["longitude_1"].drop_nulls().to_list(), *pairs["longitude_2"].drop_nulls().to_list(),
      *places["longitude"].to_list()] if pairs.height else places["longitude"].to_list()
ys = [*pairs["latitude_1"].drop_nulls().to_list(), *pairs["latitude_2"].drop_nulls().to_list(),
      *places["latitude"].to_list()] if pairs.height else places["latitude"].to_list()
box = (min(xs), min(ys), max(xs), max(ys)) if xs and t.niveau != "france" else maps.bounds(
    data.features(t.niveau, (t.code,))) if t.niveau != "france" else None
level, where = cov.outline_features(territoires, t)
view = maps.view_for(box)
view.pitch = 35  # arcs seen at an angle
# the same map for every view of this territory and period: built once per data version
deck = data.per_version("carte_flux", (t, period), lambda: cov.flow_deck(pairs, places, view,
                                                                        data.features(level, **where)))
st.pydeck_chart(deck, height=maps.MAP_HEIGHT, key="carte_flux")
arcs = pairs.filter(pl.col("code_1") != pl.col("code_2")).height if pairs.height else 0
st.caption(cov.flows_caption(arcs, places.height, period.label) + " "
           + layout.source_note(["covoit_trajets", "covoit_aires"]) + (" · flux simulés" if simulated else ""))

# -- hours and distances ----------------------------------------------------------------------
left, right = st.columns(2)
for col, tbl, column, title, x_title in (
    (left, cov.territory_rows("covoiturage/heures.parquet", t), "heure", "Heure de départ", "Heure"),
    (right, cov.territory_rows("covoiturage/distances.parquet", t), "classe_distance", "Distance parcourue", "Distance"),
):
    with col:
        dist, note = cov.distribution(tbl, t, period, column)
        total = int(dist["trajets"].sum()) if dist.height else 0
        if total:
            st.plotly_chart(cov.bar_chart(dist, column, title, x_title), width="stretch", key=f"graphe_{column}",
                            config={"displayModeBar": False})
            small = (f" Moins de {cov.MIN_TRIPS_FOR_SHARE} trajets : parts non calculées (effectif faible)."
                     if total < cov.MIN_TRIPS_FOR_SHARE else "")
            st.caption((note + " " if note else "") + f"Trajets partant du territoire ou y arrivant. {vintage}." + small)
        else:
            st.info(f"{title} : aucun trajet sur la période, pas de répartition à tracer.")

# -- top pairs and communes -------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.markdown("**Principales liaisons**")
    top = cov.top_pairs(pairs)
    if top.height:
        tables.show(top, alt=f"Principales liaisons de covoiturage ({period.label})", key="covoit_liaisons")
    else:
        st.info("Aucune liaison d'au moins 10 passagers dans un mois.")
with right:
    communes = cov.top_communes(mensuel, territoires, t, period, sums=sums)
    if t.niveau not in ("commune", "arrondissement"):
        st.markdown("**Communes les plus concernées**")
        if communes.height:
            shown = cov.with_share_notes(communes)
            tables.show(shown.select(
                pl.col("nom").alias("Commune"), pl.col("trajets").alias("Trajets"),
                pl.col("trajets_pour_1000_hab").alias("Pour 1 000 hab."), pl.col("part_interne").alias("Internes"),
                *([pl.col("Note")] if "Note" in shown.columns else []),
            ), {"Pour 1 000 hab.": tables.Number(1), "Internes": tables.PERCENT},
                alt=f"Communes les plus concernées ({period.label})", key="covoit_communes")
        else:
            st.info("Pas de donnée.")
    else:
        st.markdown("**Mois par mois**")
        if series.height and series["trajets"].sum() > 0:
            # every month of the period, a month without trip at 0; shares emptied under 10 trips, "Note" says why
            monthly = cov.with_share_notes(series)
            if (series["trajets"].is_between(1, cov.SMALL_COUNT - 1)).any():
                monthly = monthly.with_columns(
                    pl.when(pl.col("trajets").is_between(1, cov.SMALL_COUNT - 1))
                    .then(pl.lit("effectif faible (moins de 6 trajets : secret statistique)"))
                    .otherwise(pl.col("Note") if "Note" in monthly.columns else pl.lit("")).alias("Note"))
            monthly = monthly.select(
                pl.Series("Mois", [fmt.month(m) for m in series["mois"]], dtype=pl.String), pl.col("trajets").alias("Trajets"),
                pl.col("part_interne").alias("Internes"), pl.col("taux_occupation").alias("Pers./voiture"),
                pl.col("part_incitation").alias("Avec incitation"),
                *([pl.col("Note")] if "Note" in monthly.columns else []),
            )
            tables.show(monthly, {"Internes": tables.PERCENT, "Pers./voiture": tables.Number(2),
                                  "Avec incitation": tables.PERCENT},
                        alt=f"Covoiturage de {t.nom} mois par mois", key="covoit_mois")
        else:
            st.info("Aucun trajet du registre pour ce territoire : pas de tableau mensuel.")
        if t.niveau == "arrondissement":
            st.caption("Les liaisons ci-contre sont celles de la ville entière : les flux sont comptés par commune.")
st.caption(f"Flux : {vintage}. " + layout.source_note(["covoit_trajets"]))
