"""Logic of the "Covoiturage" page: periods, sums and rates, comparisons, flows, places, charts.

Pure functions over the carpooling marts (`covoiturage/*.parquet`, `indicateurs`), so that tests
use exactly what the page shows. Rates are recomputed from the summed columns for any period
(month, quarter, year) with the mart's own formulas (`etl.covoiturage.rates`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pydeck as pdk
import streamlit as st

from dashboard import charts, data, fmt, maps
from dashboard.territory import Territory
from etl import covoiturage as cv
from etl import periods as etl_periods

BLUE = "#000091"
RED = "#E1000F"
GREY = "#929292"
CAVEAT = (
    "Le registre de preuve de covoiturage ne compte que les trajets passés par les opérateurs partenaires "
    "(applications de covoiturage du quotidien) : environ 15 % du covoiturage du quotidien, d'après l'observatoire "
    "national du covoiturage. Le covoiturage informel (collègues, voisins) n'y figure pas."
)
SIMULATED = (
    "**Données simulées** : aucun fichier mensuel du registre n'est joignable ici ; les trajets de {periode} sont "
    "simulés (modèle gravitaire entre communes réelles, calé sur le total réel 2024 de chaque EPCI) et passent par "
    "la même chaîne de traitement que les fichiers réels. Les volumes par EPCI sur l'année sont exacts ; la "
    "répartition entre communes, mois, heures et distances est simulée."
)
QUARTER_NAMES = {1: "1er trimestre", 2: "2e trimestre", 3: "3e trimestre", 4: "4e trimestre"}
SMALL_COUNT = 6  # the registry's statistical secrecy: fewer than 6 trips a month
#: A share (internal trips, incentives) or the occupancy computed on fewer trips is not shown: "effectif faible".
MIN_TRIPS_FOR_SHARE = 10
SHARE_COLUMNS = ("part_interne", "taux_occupation", "part_incitation")
SMALL_LABEL = "effectif faible"
NO_TRIP_LABEL = "aucun trajet"
FLOW_LIMITS = {"commune": 40, "arrondissement": 40, "epci": 60, "departement": 80, "region": 100, "france": 150}


# -- periods ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """A month ("2024-03"), a quarter ("2024-T1") or a year ("2024"), and its months."""

    key: str
    kind: str  # "mois", "trimestre", "annee"
    months: tuple[str, ...]

    @property
    def label(self) -> str:
        if self.kind == "mois":
            return fmt.month(self.key)
        if self.kind == "trimestre":
            year, q = self.key.split("-T")
            return f"{QUARTER_NAMES[int(q)]} {year}"
        return self.key

    @property
    def year(self) -> str:
        return self.key[:4]


def periods(available: list[str]) -> dict[str, list[Period]]:
    """Every period the months allow: kind -> periods (quarters and years only when complete)."""
    months = etl_periods.sort(set(available))  # typed, never string order
    out: dict[str, list[Period]] = {"mois": [Period(m, "mois", (m,)) for m in months], "trimestre": [], "annee": []}
    for year in sorted({m[:4] for m in months}):
        for q in range(1, 5):
            qm = tuple(f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1))
            if all(m in months for m in qm):
                out["trimestre"].append(Period(f"{year}-T{q}", "trimestre", qm))
        ym = tuple(m for m in months if m.startswith(year))
        if len(ym) == 12:
            out["annee"].append(Period(year, "annee", ym))
    return out


def default_period(available: list[str]) -> Period:
    """The latest complete year, else the latest quarter, else the latest month."""
    options = periods(available)
    for kind in ("annee", "trimestre", "mois"):
        if options[kind]:
            return options[kind][-1]
    raise ValueError("aucun mois disponible")


def parse_period(text: str | None, available: list[str]) -> tuple[Period, str | None]:
    """The period asked for in the URL, or the default with a French message when it is unknown."""
    default = default_period(available)
    if not text:
        return default, None
    text = str(text).strip().upper()
    for options in periods(available).values():
        for p in options:
            if p.key.upper() == text:
                return p, None
    shown = re.sub(r"[^\w\-]", "", text)[:20]
    return default, (f"La période demandée (« {shown} ») n'est pas disponible : {default.label} est affichée. "
                     "Périodes possibles : un mois (2024-03), un trimestre (2024-T1) ou une année (2024).")


# -- sums and rates ---------------------------------------------------------------------------
def period_sums(mensuel: pl.DataFrame, keys: list[tuple[str, str]], period: Period) -> pl.DataFrame:
    """Summed columns and rates of some territories over a period (territories without data absent)."""
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    rows = mensuel.join(key_df, on=["niveau", "code"], how="semi").filter(pl.col("mois").is_in(list(period.months)))
    summed = rows.group_by("niveau", "code").agg(
        *[pl.col(c).cast(pl.Int64).sum() for c in cv.SUMS], pl.len().alias("mois_presents"),
        (pl.col("nature") == "simule").any().alias("simule"),
    )
    return hide_small_shares(summed.with_columns(cv.rates()))


def hide_small_shares(df: pl.DataFrame) -> pl.DataFrame:
    """Shares and occupancy set to null where they rest on fewer than `MIN_TRIPS_FOR_SHARE` trips.

    `effectif_faible` says which: "33 % of 3 trips" is one trip, not a share to compare. Pages
    print `share_text` ("effectif faible") there, never the number.
    """
    small = pl.col("trajets") < MIN_TRIPS_FOR_SHARE
    return df.with_columns(
        *[pl.when(small).then(None).otherwise(pl.col(c)).alias(c) for c in SHARE_COLUMNS if c in df.columns],
        effectif_faible=small,
    )


def share_text(value: float | None, trips: int | None, unit: str, decimals: int) -> str:
    """A share for a table or a card: "pas de donnée" (no row), "aucun trajet" (a month at 0), "effectif
    faible" (fewer than 10 trips) or "47,3 %"."""
    if trips is None:  # nothing published: 0 to 5 trips on real files (secrecy), not known to be none
        return fmt.NO_DATA
    if trips == 0:
        return NO_TRIP_LABEL
    if trips < MIN_TRIPS_FOR_SHARE:
        return SMALL_LABEL
    return fmt.with_unit(value, unit, decimals)


def share_note(trips: int | None) -> str:
    """Why a row of a table shows no share: "aucun trajet", "effectif faible" ("" when it shows them)."""
    if trips is None:
        return ""
    return share_text(None, trips, "", 0) if trips < MIN_TRIPS_FOR_SHARE else ""


def with_share_notes(df: pl.DataFrame, trips: str = "trajets") -> pl.DataFrame:
    """A table's rows with a "Note" column saying why their shares are empty ("aucun trajet", "effectif
    faible"), when some row needs one: the shares stay numbers, so that the table still sorts."""
    notes = [share_note(n) for n in df[trips].to_list()]
    return df.with_columns(pl.Series("Note", notes, dtype=pl.String)) if any(notes) else df


def with_population(df: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
    """Add population and journeys per 1,000 inhabitants."""
    pop = territoires.select("niveau", "code", "nom", pl.col("population").cast(pl.Float64))
    return df.join(pop, on=["niveau", "code"], how="left").with_columns(
        pl.when(pl.col("population") > 0).then(pl.col("trajets") / pl.col("population") * 1000)
        .alias("trajets_pour_1000_hab"))


@dataclass(frozen=True)
class PeriodSums:
    """The summed columns of every territory for one period, sorted by territory, with each territory's row:
    built once per data version and period (`period_sums_of`); a view picks its rows (`rows`)."""

    sums: pl.DataFrame
    index: dict[tuple[str, str], int]
    territoires: pl.DataFrame

    def rows(self, keys: list[tuple[str, str]]) -> pl.DataFrame:
        """`with_population(period_sums(mensuel, keys, period))`, the rows of `keys` with journeys, in the order
        of `keys`. The rates are computed here, on the rows picked, as `period_sums` computes them."""
        picks = [i for i in (self.index.get(k) for k in keys) if i is not None]
        summed = self.sums[picks] if picks else self.sums.head(0)
        return with_population(hide_small_shares(summed.with_columns(cv.rates())), self.territoires)


def all_period_sums(mensuel: pl.DataFrame, territoires: pl.DataFrame, period: Period) -> PeriodSums:
    """`PeriodSums` of every territory of `mensuel` (the sums of `period_sums`, without the keys)."""
    rows = mensuel.filter(pl.col("mois").is_in(list(period.months)))
    summed = rows.group_by("niveau", "code").agg(
        *[pl.col(c).cast(pl.Int64).sum() for c in cv.SUMS], pl.len().alias("mois_presents"),
        (pl.col("nature") == "simule").any().alias("simule"),
    ).sort("niveau", "code")
    return PeriodSums(summed, {k: i for i, k in enumerate(zip(summed["niveau"], summed["code"], strict=True))},
                      territoires)


def period_sums_of(period: Period) -> PeriodSums:
    """`all_period_sums` of the served data, built once per data version and period (shared, read-only):
    a view's figures, comparison and top communes summed the monthly table per view (about 60 ms)."""
    return _period_sums_of(data.version(), period)


@st.cache_resource(show_spinner=False, max_entries=8)
def _period_sums_of(v: str, period: Period) -> PeriodSums:
    return all_period_sums(data.table("covoiturage/mensuel.parquet", v), data.territoires(), period)


def territory_rows(relative: str, t: Territory) -> pl.DataFrame:
    """`t`'s rows of a carpool table (`covoiturage/mensuel.parquet`, `heures`, `distances`): a slice of the
    table sorted once per data version (`data.indexed_table`), where a view filtered the whole table."""
    table, index = data.indexed_table(relative)
    span = index.get(t.key)
    return table.slice(*span) if span else table.head(0)


def available_months() -> list[str]:
    """The months of the monthly table, in calendar order (typed), once per data version."""
    return _available_months(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _available_months(v: str) -> list[str]:
    return etl_periods.sort(data.table("covoiturage/mensuel.parquet", v)["mois"].unique().to_list())


def figures(mensuel: pl.DataFrame, territoires: pl.DataFrame, t: Territory, period: Period,
            sums: PeriodSums | None = None) -> dict | None:
    """The territory's figures for the period, or None when it has no journey ("pas de donnée").

    `sums`: the period's `PeriodSums`, to pick from (else computed from `mensuel`)."""
    df = sums.rows([t.key]) if sums is not None else with_population(period_sums(mensuel, [t.key], period), territoires)
    return df.row(0, named=True) if df.height else None


def comparison(mensuel: pl.DataFrame, territoires: pl.DataFrame, t: Territory, chain: list[Territory],
               peers: pl.DataFrame, period: Period, sums: PeriodSums | None = None) -> pl.DataFrame:
    """Rows: the territory, its parents, and the median of comparable territories, for the period.

    `sums`: the period's `PeriodSums`, to pick from (else computed from `mensuel`)."""
    keys = [t.key, *[p.key for p in chain]]
    if sums is not None:
        df = sums.rows(keys)
    else:
        df = with_population(period_sums(mensuel, keys, period), territoires)
        order = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys], "_o": range(len(keys))})
        df = df.join(order, on=["niveau", "code"]).sort("_o").drop("_o")
    if peers.height:
        peer_keys = list(zip(peers["niveau"], peers["code"], strict=True))
        peer_df = (sums.rows(peer_keys) if sums is not None
                   else with_population(period_sums(mensuel, peer_keys, period), territoires))
        if peer_df.height:
            # a share's median takes the peers with enough trips only (the others' shares are null)
            med = peer_df.select([pl.col(c).median() for c in ("trajets_pour_1000_hab", "part_interne",
                                                                "taux_occupation", "part_incitation")])
            name = ("Le seul territoire comparable" if peer_df.height == 1  # not "Médiane de 1 territoires"
                    else f"Médiane de {fmt.number(peer_df.height)} territoires comparables")
            med = med.with_columns(nom=pl.lit(name),
                                   niveau=pl.lit("comparables"), code=pl.lit(""))
            df = pl.concat([df, med], how="diagonal_relaxed")
    return df


def monthly_series(mensuel: pl.DataFrame, t: Territory, months: list[str] | None = None) -> pl.DataFrame:
    """The territory's months, each with its rates; with `months` (every month of the data), the months
    without any trip are there too, with 0 trips (`sans_trajet`), not dropped: a gap in a bar chart
    reads as a month without data, a bar at 0 as a month without trip.
    """
    rows = mensuel.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code))
    if months:
        known = set(rows["mois"].to_list())
        nature = rows["nature"].mode().first() if rows.height else None
        absent = [m for m in months if m not in known]
        if absent:
            zeros = pl.DataFrame({"niveau": t.niveau, "code": t.code, "mois": absent}).with_columns(
                *[pl.lit(0, rows.schema[c]).alias(c) for c in cv.SUMS], nature=pl.lit(nature, pl.String))
            rows = pl.concat([rows.with_columns(sans_trajet=pl.lit(False)),
                              zeros.with_columns(sans_trajet=pl.lit(True))], how="diagonal_relaxed")
    if "sans_trajet" not in rows.columns:
        rows = rows.with_columns(sans_trajet=pl.col("trajets") == 0)
    return hide_small_shares(rows.sort(etl_periods.sort_expr("mois")).with_columns(cv.rates()))


# -- distributions ----------------------------------------------------------------------------
def distribution(table: pl.DataFrame, t: Territory, period: Period, column: str) -> tuple[pl.DataFrame, str | None]:
    """Journeys by `column` (heure or classe_distance) over the period.

    Communes and arrondissements have yearly distributions only: a month or a quarter shows the
    year, and the returned note says so.
    """
    mine = table.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code))
    note = None
    if t.niveau in ("commune", "arrondissement"):
        mine = mine.filter(pl.col("periode") == period.year)
        if period.kind != "annee":
            note = (f"Pour une commune, la répartition n'est conservée que sur l'année : {period.year} entière "
                    f"(et non {period.label}).")
    else:
        mine = mine.filter(pl.col("periode").is_in(list(period.months)))
    # widened before summing: the mart stores Int32 counts, and polars sums Int32 as Int32 (wraps)
    out = mine.group_by(column).agg(pl.col("trajets").cast(pl.Int64).sum()).sort(column)
    if column == "classe_distance" and out.height:
        order = {label: i for i, label in enumerate(cv.DISTANCE_LABELS)}
        out = out.with_columns(_o=pl.col(column).replace_strict(order, return_dtype=pl.Int8)).sort("_o").drop("_o")
    return out, note


# -- flows ------------------------------------------------------------------------------------
def _places_index(territoires: pl.DataFrame, etranger: pl.DataFrame, niveau: str) -> pl.DataFrame:
    level = territoires.filter(pl.col("niveau") == niveau).select("code", "nom", "longitude", "latitude")
    foreign = etranger.select("code", pl.concat_str([pl.col("nom"), pl.lit(" (étranger)")]).alias("nom"),
                              "longitude", "latitude")
    return pl.concat([level, foreign], how="vertical_relaxed")


def pair_sums(flux: pl.DataFrame, period: Period) -> pl.DataFrame:
    """Every origin-destination pair's journeys and passengers summed over the period (`flows`' sums, before
    it keeps the territory's pairs: a pair's sum does not depend on which pairs are kept)."""
    return flux.filter(pl.col("mois").is_in(list(period.months))).group_by("niveau", "code_1", "code_2").agg(
        pl.col("trajets").cast(pl.Int64).sum(), pl.col("passagers").cast(pl.Int64).sum())


def pair_sums_of(period: Period) -> pl.DataFrame:
    """`pair_sums` of the served flows, once per data version and period (shared, read-only)."""
    return _pair_sums_of(data.version(), period)


@st.cache_resource(show_spinner=False, max_entries=8)
def _pair_sums_of(v: str, period: Period) -> pl.DataFrame:
    return pair_sums(data.table("covoiturage/flux.parquet", v), period)


def flows(flux: pl.DataFrame, territoires: pl.DataFrame, etranger: pl.DataFrame, t: Territory, period: Period,
          limit: int | None = None, sums: pl.DataFrame | None = None) -> pl.DataFrame:
    """The territory's origin-destination pairs over the period, with names and coordinates, largest first.

    Communes and arrondissements: pairs of communes with an end in the (parent) commune.
    EPCI: pairs of EPCI with an end in it, and pairs of its own communes. Départements,
    régions: pairs of EPCI with an end in the territory; France: the largest pairs of EPCI.
    Each month keeps only pairs of 10 passengers or more (the observatory's rule): over a
    quarter or a year, the sums are those of the months where the pair reached the threshold.
    `sums`: the period's `pair_sums` (else summed here from `flux`).
    """
    # `sums`: the period's `pair_sums`, to pick from (summed again below: one row a pair, the same sums)
    rows = sums if sums is not None else flux.filter(pl.col("mois").is_in(list(period.months)))
    com = rows.filter(pl.col("niveau") == "commune")
    epci = rows.filter(pl.col("niveau") == "epci")
    def touches(codes: list[str]) -> pl.Expr:
        return pl.col("code_1").is_in(codes) | pl.col("code_2").is_in(codes)

    if t.niveau in ("commune", "arrondissement"):
        city = t.code_commune if t.niveau == "arrondissement" and t.code_commune else t.code
        parts = [com.filter(touches([city]))]
    elif t.niveau == "epci":
        members = territoires.filter((pl.col("niveau") == "commune") & (pl.col("code_epci") == t.code))["code"]
        parts = [epci.filter(touches([t.code])),
                 com.filter(pl.col("code_1").is_in(members.implode()) & pl.col("code_2").is_in(members.implode()))]
    elif t.niveau in ("departement", "region"):
        key = "code_departement" if t.niveau == "departement" else "code_region"
        members = territoires.filter((pl.col("niveau") == "epci") & (pl.col(key) == t.code))["code"].to_list()
        parts = [epci.filter(touches(members))]
    else:
        parts = [epci]
    summed = (
        pl.concat(parts).group_by("niveau", "code_1", "code_2")
        .agg(pl.col("trajets").cast(pl.Int64).sum(), pl.col("passagers").cast(pl.Int64).sum())
        .sort(["passagers", "code_1", "code_2"], descending=[True, False, False])
    )
    if limit is not None:
        summed = summed.head(limit)
    out = []
    for niveau in ("commune", "epci"):
        part = summed.filter(pl.col("niveau") == niveau)
        if not part.height:
            continue
        idx = _places_index(territoires, etranger, niveau)
        for end in ("1", "2"):
            part = part.join(idx.rename({c: f"{c}_{end}" for c in ("code", "nom", "longitude", "latitude")}),
                             on=f"code_{end}", how="left")
        out.append(part)
    if not out:
        return summed.with_columns(*[pl.lit(None, pl.String).alias(f"nom_{e}") for e in "12"])
    return pl.concat(out, how="diagonal_relaxed").sort(["passagers", "code_1", "code_2"], descending=[True, False, False])


def top_pairs(pairs: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The largest pairs, for a table: passengers, journeys, "A ↔ B" (or "A (trajets internes)").

    The numbers first: a pair's names can be long ("Communauté d'agglomération … ↔ …"), and on a
    phone the passengers must show without scrolling the table sideways.
    """
    schema = {"Passagers": pl.Int64, "Trajets": pl.Int64, "Liaison": pl.String}
    if not pairs.height:
        return pl.DataFrame(schema=schema)
    head = pairs.head(n)
    labels = [f"{a or c1} (trajets internes)" if c1 == c2 else f"{a or c1} ↔ {b or c2}"
              for a, b, c1, c2 in head.select("nom_1", "nom_2", "code_1", "code_2").iter_rows()]
    return pl.DataFrame({"Passagers": head["passagers"], "Trajets": head["trajets"], "Liaison": labels},
                        schema=schema)


def top_communes(mensuel: pl.DataFrame, territoires: pl.DataFrame, t: Territory, period: Period,
                 n: int = 10, sums: PeriodSums | None = None) -> pl.DataFrame:
    """Communes of the territory with the most journeys over the period (none for a commune).

    `sums`: the period's `PeriodSums`, to pick from (else computed from `mensuel`)."""
    communes = territoires.filter(pl.col("niveau") == "commune")
    if t.niveau == "epci":
        communes = communes.filter(pl.col("code_epci") == t.code)
    elif t.niveau == "departement":
        communes = communes.filter(pl.col("code_departement") == t.code)
    elif t.niveau == "region":
        communes = communes.filter(pl.col("code_region") == t.code)
    elif t.niveau != "france":
        return communes.head(0)
    keys = [("commune", c) for c in communes["code"].to_list()]
    rows = sums.rows(keys) if sums is not None else with_population(period_sums(mensuel, keys, period), territoires)
    return rows.sort(["trajets", "code"], descending=[True, False]).head(n)


def zero_months_sentence(months: int, simulated: bool) -> str:
    """Why some bars are at 0: no trip simulated, or none published (the registry hides fewer than 6)."""
    if simulated:
        return f"{months} mois sans trajet : barre à 0 (aucun trajet simulé ce mois-là)."
    return (f"{months} mois sans trajet publié : barre à 0 (aucun trajet, ou moins de {SMALL_COUNT}, que le registre ne publie "
            "pas par secret statistique).")


def flows_caption(arcs: int, places: int, period_label: str) -> str:
    """What the flow map draws, in sentences that never say "les 0 liaisons" or "0 lieux"."""
    if arcs:
        head = (f"Arcs bleus : {'la liaison la plus fréquentée' if arcs == 1 else f'les {fmt.number(arcs)} liaisons les plus fréquentées'}"
                f" ({period_label}), d'au moins 10 passagers dans le mois (règle de l'observatoire), trajets de moins "
                "de 80 km ; épaisseur selon les passagers.")
    else:
        head = (f"Aucune liaison n'atteint 10 passagers dans un mois ({period_label}) : pas d'arc à tracer (règle de "
                "l'observatoire).")
    if places:
        tail = (f" Points rouges : {'le lieu' if places == 1 else f'les {fmt.number(places)} lieux'} de covoiturage de "
                "la base nationale (survoler pour le nom, le type et la capacité).")
    else:
        tail = " Aucun lieu de covoiturage de la base nationale sur cette carte."
    return head + tail


# -- maps -------------------------------------------------------------------------------------
def places_for(aires: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """Carpool places drawn with the territory: a commune's EPCI, an arrondissement's city, or the territory."""
    if t.niveau == "commune":
        cond = (pl.col("code_epci") == t.code_epci) if t.code_epci else (pl.col("code_commune") == t.code)
    elif t.niveau == "arrondissement":
        cond = pl.col("code_commune") == t.code_commune
    elif t.niveau == "epci":
        cond = pl.col("code_epci") == t.code
    elif t.niveau == "departement":
        cond = pl.col("code_departement") == t.code
    elif t.niveau == "region":
        cond = pl.col("code_region") == t.code
    else:
        cond = pl.lit(True)
    return aires.filter(cond & pl.col("longitude").is_not_null())


def capacity_text(places: int | None) -> str:
    return "capacité inconnue" if places is None else f"{fmt.number(places)} place{'s' if places > 1 else ''}"


def outline_features(territoires: pl.DataFrame, t: Territory) -> tuple[str, dict]:
    """Which polygons outline the flow map (level and filter for `dashboard.data.features`)."""
    if t.niveau in ("commune", "arrondissement"):
        return ("commune", {"epci": t.code_epci}) if t.code_epci else ("commune", {"codes": (t.code_commune or t.code,)})
    if t.niveau == "epci":
        return "commune", {"epci": t.code}
    if t.niveau == "departement":
        epci = territoires.filter((pl.col("niveau") == "epci") & (pl.col("code_departement") == t.code))["code"]
        return "epci", {"codes": tuple(sorted(epci.to_list()))}
    if t.niveau == "region":
        deps = territoires.filter((pl.col("niveau") == "departement") & (pl.col("code_region") == t.code))["code"]
        return "departement", {"codes": tuple(sorted(deps.to_list()))}
    return "departement", {}


def flow_deck(pairs: pl.DataFrame, places: pl.DataFrame, view: pdk.ViewState,
              outlines: list[dict] | None = None) -> pdk.Deck:
    """Arcs of the flows (width ∝ passengers), carpool places as points, territories outlined; tooltips escaped.

    The outlines give the map its bearings: there is no basemap by default (`maps.basemap`).
    """
    # France: metropolitan France fills the frame, the DROM's outlines, arcs and places in insets
    framing = maps.frame(outlines or [])
    if framing.insets:
        outlines = framing.features
        framing.view.pitch, view = view.pitch, framing.view
    point = framing.point
    arcs = pairs.filter((pl.col("code_1") != pl.col("code_2")) & pl.col("longitude_1").is_not_null()
                        & pl.col("longitude_2").is_not_null()) if pairs.height else pairs
    top = max(arcs["passagers"].max() or 1, 1) if arcs.height else 1
    arc_data = [
        {"source": list(point(r["longitude_1"], r["latitude_1"])), "target": list(point(r["longitude_2"], r["latitude_2"])),
         "width": 1 + 9 * (r["passagers"] / top) ** 0.5,
         "titre": maps.escape(f"{r['nom_1'] or r['code_1']} ↔ {r['nom_2'] or r['code_2']}"),
         "detail": maps.escape(f"{fmt.number(r['passagers'])} passagers, {fmt.number(r['trajets'])} trajets")}
        for r in arcs.iter_rows(named=True)
    ]
    point_data = [
        {"position": list(point(r["longitude"], r["latitude"])),
         "titre": maps.escape(r["nom"] or "Lieu sans nom"),
         "detail": maps.escape(f"{r['type'] or 'type inconnu'} · {capacity_text(r['places'])}")}
        for r in places.iter_rows(named=True)
    ]
    layers = [
        pdk.Layer("GeoJsonLayer", id="contours", data={"type": "FeatureCollection", "features": outlines or []},
                  stroked=True, filled=True, get_fill_color=[246, 246, 246, 160], get_line_color=[160, 160, 160],
                  line_width_min_pixels=1, pickable=False),
        # no unit strings: pydeck would read "pixels" as an expression (ArcLayer widths are in pixels
        # by default; places are sized in metres, clamped to 3-7 pixels)
        pdk.Layer("ArcLayer", id="flux", data=arc_data, get_source_position="source",
                  get_target_position="target", get_width="width", get_source_color=[0, 0, 145, 200],
                  get_target_color=[0, 0, 145, 200], pickable=True, auto_highlight=True),
        pdk.Layer("ScatterplotLayer", id="aires", data=point_data, get_position="position",
                  get_fill_color=[225, 0, 15, 220], get_line_color=[255, 255, 255], stroked=True,
                  get_radius=400, radius_min_pixels=3, radius_max_pixels=7, line_width_min_pixels=1, pickable=True),
    ]
    layers += maps.inset_layers(framing.insets)
    tooltip = {"html": "<b>{titre}</b><br/>{detail}",
               "style": {"backgroundColor": "#FFFFFF", "color": "#161616", "fontSize": "13px"}}
    return maps.Deck(layers=layers, initial_view_state=view, tooltip=tooltip, **maps.basemap())


# -- charts -----------------------------------------------------------------------------------
def _layout(title: str, y_title: str, **more: Any) -> dict[str, Any]:
    """The carpool charts' layout: title, height, margins, white background, a grey grid, whole numbers on
    every y axis (`more`: a second axis, annotations)."""
    grid = {"gridcolor": "#E5E5E5", "tickformat": ",d"}
    layout: dict[str, Any] = dict(title={"text": title}, height=340, margin=dict(l=10, r=10, t=50, b=10),
                                  plot_bgcolor="white", font=dict(family="Marianne, Arial, sans-serif"),
                                  legend=dict(orientation="h"), **more)
    layout["yaxis"] = {"title": {"text": y_title}, **layout.get("yaxis", {}), **grid}
    for name in [k for k in layout if k.startswith("yaxis") and k != "yaxis"]:
        layout[name] = {**layout[name], **grid}
    return layout


SHORT_MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."]


def short_months(months: list[str]) -> list[str]:
    """Axis labels: "janv.", "févr."… (with the year when the months span several years)."""
    several = len({m[:4] for m in months}) > 1
    return [SHORT_MONTHS[int(m[5:7]) - 1] + (f" {m[2:4]}" if several else "") for m in months]


def monthly_chart(series: pl.DataFrame, period: Period, campaign: str | None) -> go.Figure:
    """Journeys per month (the selected period in blue), incentive share as a line, campaign noted."""
    months = series["mois"].to_list()
    colours = [BLUE if m in period.months else GREY for m in months]
    labels = short_months(months)
    traces = [
        go.Bar(x=labels, y=series["trajets"].to_list(), marker_color=colours, name="Trajets",
               customdata=[fmt.month(m) for m in months],
               hovertemplate="%{customdata} : %{y:,d} trajets<extra></extra>"),
        go.Scatter(x=labels, y=series["part_incitation"].to_list(), yaxis="y2",
                   name="Part des trajets avec incitation (%)", mode="lines+markers", line=dict(color=RED),
                   hovertemplate="%{y:.1f}\u202f% avec incitation<extra></extra>"),
    ]
    more: dict[str, Any] = {"yaxis2": dict(overlaying="y", side="right", range=[0, 100], dtick=25,
                                           title={"text": "% avec incitation"}, showgrid=False,
                                           ticksuffix=fmt.NNBSP + "%")}
    if campaign:
        more["annotations"] = [dict(text=campaign, xref="paper", yref="paper", x=0, y=1.12, showarrow=False,
                                    align="left", font=dict(color=RED, size=12))]
    return charts.figure(traces, _layout("", "Trajets par mois", **more))


def bar_chart(df: pl.DataFrame, column: str, title: str, x_title: str) -> go.Figure:
    """Trips by hour or distance class; the share of each bar only on `MIN_TRIPS_FOR_SHARE` trips or more."""
    total = df["trajets"].sum() or 0
    x = [f"{h} h" for h in df[column].to_list()] if column == "heure" else df[column].to_list()
    if total >= MIN_TRIPS_FOR_SHARE:
        hover = dict(customdata=[v / total * 100 for v in df["trajets"].to_list()],
                     hovertemplate="%{x} : %{y:,d} trajets (%{customdata:.1f}\u202f%)<extra></extra>")
    else:
        hover = dict(hovertemplate=f"%{{x}} : %{{y:,d}} trajets ({SMALL_LABEL})<extra></extra>")
    return charts.figure(go.Bar(x=x, y=df["trajets"].to_list(), marker_color=BLUE, **hover),
                         _layout(title, "Trajets", xaxis={"title": {"text": x_title}}))
