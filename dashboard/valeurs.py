"""The one answer to "territory X, indicator Y": value, period, nature, source, or why there is none.

Every page, the territory brief and the extracts show a figure through this module, so that a
figure means one thing everywhere. The answer is computed once per data version by the ETL
(`etl/marts/equilibre.py` writes `valeurs/courantes.parquet`, with typed periods: a real 2024
total beats simulated 2024 months); this module only reads it and, when a territory has no
value, says why in a plain French sentence (a refusal stored by the ETL, such as a commune whose
2021 dwellings are not those of its territory; else the indicator's reason, or "not computed
at this level").

`answer` and `answers` are pure functions over the frame (tests call them); `valeur` and
`valeurs` read the cached table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl
import streamlit as st

from dashboard import data, fmt

TABLE = "valeurs/courantes.parquet"
INDEX = "valeurs/index.parquet"
LEVELS = "valeurs/niveaux.parquet"
LEVEL_OF = {"commune": "des communes", "arrondissement": "des arrondissements", "epci": "des intercommunalités",
            "departement": "des départements", "region": "des régions", "france": "de la France"}
#: Why a territory has no value of an indicator that others of its level have (by indicator, then domain).
MISSING = {
    "covoit_places_aires": "aucun lieu de covoiturage recensé dans la base nationale (qui n'est pas exhaustive)",
    "covoit_places_aires_pour_10000_hab": "aucun lieu de covoiturage recensé dans la base nationale (qui n'est pas "
                                          "exhaustive)",
    "covoit_aires": "aucun lieu de covoiturage recensé dans la base nationale (qui n'est pas exhaustive)",
    "covoit_aires_capacite_inconnue": "aucun lieu de covoiturage sans capacité connue",
    "distance_tiers_lieu_km": "centre de la commune inconnu (commune sans contour)",
    "part_pop_10km_tiers_lieu": "centre de la commune inconnu (commune sans contour)",
    "part_pop_20km_tiers_lieu": "centre de la commune inconnu (commune sans contour)",
    "densite": "surface inconnue (commune sans contour dans les données de l'IGN utilisées)",
    "logements": "absent du recensement du logement 2021 publié",
    "part_residences_secondaires": "absent du recensement du logement 2021 publié",
    "taxis_bpe": "commune absente des fichiers de la BPE 2009 et 2013",
    "vtc_hausse_depuis_2013": "non mesurée : la BPE courante n'est pas chargée",
    "vtc_hausse_pour_10000_hab": "non mesurée : la BPE courante n'est pas chargée",
}
MISSING_BY_DOMAIN = {
    "locations_courte_duree": "territoire non couvert par Inside Airbnb",
    "covoiturage": "aucun trajet du registre publié pour ce territoire (moins de 6 par mois : secret statistique)",
}


@dataclass(frozen=True)
class Valeur:
    """The answer for one territory and one indicator."""

    niveau: str
    code: str
    indicateur: str
    valeur: float | None
    periode: str | None
    nature: str | None
    source: str | None
    raison: str | None = None
    libelle: str = ""
    unite: str = ""
    decimales: int = 1

    @property
    def manque(self) -> bool:
        return fmt.is_missing(self.valeur)

    def texte(self, *, unit: bool = True) -> str:
        """The value as a page prints it: "47,3 %", "oui", "12 345 habitants"; missing -> "pas de donnée"."""
        if self.manque:
            return fmt.NO_DATA
        if not unit and self.unite not in (fmt.YES_NO_UNIT, "%"):
            return fmt.number(self.valeur, self.decimales)
        return fmt.with_unit(self.valeur, self.unite, self.decimales)

    def quand(self) -> str:
        """"2024 (données simulées)", "mars 2024", "" when missing."""
        if self.manque or not self.periode:
            return ""
        label = fmt.nature_label(self.nature or "")
        return fmt.period(self.periode) + (f" ({label})" if label else "")


def _meta(catalogue: pl.DataFrame | dict[str, dict], indicateur: str) -> dict:
    """The catalogue entry of an indicator (`catalogue` as a frame, or as `catalogue_by_id`)."""
    if isinstance(catalogue, dict):
        return catalogue.get(indicateur, {})
    row = catalogue.filter(pl.col("indicateur") == indicateur)
    return row.row(0, named=True) if row.height else {}


def catalogue_by_id(catalogue: pl.DataFrame) -> dict[str, dict]:
    return {r["indicateur"]: r for r in catalogue.iter_rows(named=True)}


def available(current: pl.DataFrame) -> set[tuple[str, str]]:
    """The (niveau, indicateur) pairs that some territory has a value of."""
    return set(current.filter(pl.col("valeur").is_not_null()).select("niveau", "indicateur").unique().iter_rows())


def missing_reason(catalogue: pl.DataFrame | dict[str, dict], niveau: str, indicateur: str, levels: set[tuple[str, str]]) -> str:
    """Why a territory of `niveau` has no value of `indicateur`, when the ETL stored no reason.

    `levels`: `available(current)`.
    """
    meta = _meta(catalogue, indicateur)
    if not meta:
        return f"indicateur inconnu : {indicateur}"
    if (niveau, indicateur) not in levels:
        return f"non calculé au niveau {LEVEL_OF.get(niveau, niveau)}"
    return MISSING.get(indicateur) or MISSING_BY_DOMAIN.get(meta.get("domaine") or "", "pas de donnée pour ce territoire")


def answer(current: pl.DataFrame, catalogue: pl.DataFrame | dict[str, dict], niveau: str, code: str, indicateur: str,
           levels: set[tuple[str, str]] | None = None) -> Valeur:
    """The figure of territory (`niveau`, `code`) for `indicateur`, from the ETL's current values.

    `current` may be all current values or only the territory's; `levels` is `available` of all
    of them (computed from `current` when not given).
    """
    row = current.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicateur))
    return _from_row(row.row(0, named=True) if row.height else None, _meta(catalogue, indicateur), catalogue,
                     niveau, code, indicateur, lambda: levels if levels is not None else available(current))


def _from_row(r: dict | None, meta: dict, catalogue: pl.DataFrame | dict[str, dict], niveau: str, code: str,
              indicateur: str, levels: Callable[[], set[tuple[str, str]]]) -> Valeur:
    """The rule shared by `answer` and `valeur`: the stored row's value or refusal, else why there is none
    (`levels`: `available` of the current values, asked only then)."""
    base = {"libelle": meta.get("libelle", indicateur), "unite": meta.get("unite", ""),
            "decimales": int(meta.get("decimales", 1) if meta.get("decimales") is not None else 1)}
    if r is not None:
        if r["valeur"] is not None:
            return Valeur(niveau, code, indicateur, r["valeur"], r["periode"], r["nature"], r["source"], **base)
        return Valeur(niveau, code, indicateur, None, None, None, None, raison=r["raison"], **base)
    return Valeur(niveau, code, indicateur, None, None, None, None,
                  raison=missing_reason(catalogue, niveau, indicateur, levels()), **base)


def answers(current: pl.DataFrame, keys: Iterable[tuple[str, str]], indicators: list[str] | None = None) -> pl.DataFrame:
    """The current rows of many territories at once (same rule as `answer`; rows with a value only)."""
    keys = list(keys)
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    rows = current.join(key_df, on=["niveau", "code"], how="semi").filter(pl.col("valeur").is_not_null())
    if indicators is not None:
        rows = rows.filter(pl.col("indicateur").is_in(indicators))
    return rows


# -- cached, for the pages ----------------------------------------------------------------------------
def current() -> pl.DataFrame:
    """`valeurs/courantes.parquet`; for an older data folder without it, the same rule on `indicateurs`."""
    return _current(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _current(v: str) -> pl.DataFrame:
    # keyed on the data version: a refreshed folder is served by the next run, as every loader
    try:
        return data.table(TABLE)
    except FileNotFoundError:
        from etl.marts.equilibre import current_values

        return current_values(data.indicateurs())


def _index() -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]], set[tuple[str, str]]]:
    return _index_of(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _index_of(v: str) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]], set[tuple[str, str]]]:
    """The current values, each territory's (first row, row count), the levels with values.

    Read once per data version from what the ETL wrote (`valeurs/index.parquet`,
    `valeurs/niveaux.parquet`): a lookup is then a dict access and a zero-copy slice. An older
    folder without them gets them computed here.
    """
    table = _current(v)
    try:
        spans = data.table(INDEX)
        levels = {(n, i) for n, i in data.table(LEVELS).select("niveau", "indicateur").iter_rows()}
        if spans["lignes"].sum() != table.height:
            raise FileNotFoundError(INDEX)  # not written with this table
    except FileNotFoundError:
        table = table.sort("niveau", "code", "indicateur")
        spans = table.with_row_index("debut_ligne").group_by("niveau", "code", maintain_order=True).agg(
            pl.col("debut_ligne").first(), pl.len().alias("lignes"))
        levels = available(table)
    index = {(n, c): (int(i), int(k)) for n, c, i, k in
             spans.select("niveau", "code", "debut_ligne", "lignes").iter_rows()}
    return table, index, levels


def _catalogue() -> dict[str, dict]:
    return _catalogue_of(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _catalogue_of(v: str) -> dict[str, dict]:
    return catalogue_by_id(data.catalogue())


def rows_of(niveau: str, code: str) -> pl.DataFrame:
    """Every current row of one territory (values and stored refusals)."""
    table, index, _ = _index()
    span = index.get((niveau, code))
    return table.slice(*span) if span else table.head(0)


def valeur(niveau: str, code: str, indicateur: str) -> Valeur:
    """**The** figure of a territory for an indicator: what every page, the brief and the extracts show.

    Same rule as `answer` (a test checks both agree), read from the territory's rows as a dict:
    a page asks for dozens of figures (its own and its comparables'), and a polars filter per
    figure cost about 7 ms each of server CPU.
    """
    v = data.version()
    catalogue = _catalogue_of(v)
    return _from_row(_rows_by_indicator(v, niveau, code).get(indicateur), catalogue.get(indicateur, {}), catalogue,
                     niveau, code, indicateur, lambda: _index_of(v)[2])


@functools.lru_cache(maxsize=1024)
def _rows_by_indicator(v: str, niveau: str, code: str) -> dict[str, dict]:
    """One territory's current rows by indicator (keyed on the data version; a few KB each, the
    most recently asked territories kept: a page's territory and its comparables)."""
    table, index, _ = _index_of(v)
    span = index.get((niveau, code))
    if not span:
        return {}
    return {r["indicateur"]: r for r in table.slice(*span).iter_rows(named=True)}


def rows_for(keys: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """Every current row (values and stored refusals) of some territories."""
    keys = list(dict.fromkeys(keys))
    if len(keys) > 500:  # a whole level: one join beats thousands of slices
        return answers_with_refusals(_index()[0], keys)
    parts = [rows_of(n, c) for n, c in keys]
    return pl.concat(parts) if parts else current().head(0)


def answers_with_refusals(table: pl.DataFrame, keys: list[tuple[str, str]]) -> pl.DataFrame:
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    return table.join(key_df, on=["niveau", "code"], how="semi")


def valeurs(keys: Iterable[tuple[str, str]], indicators: list[str] | None = None) -> pl.DataFrame:
    """Current rows (with a value) of many territories: maps, peers, rankings."""
    rows = rows_for(keys).filter(pl.col("valeur").is_not_null())
    return rows.filter(pl.col("indicateur").is_in(indicators)) if indicators is not None else rows


def levels() -> set[tuple[str, str]]:
    """`available` of the current values (cached)."""
    return _index()[2]


# -- the trend of a figure ----------------------------------------------------------------------------
EVOLUTIONS = "valeurs/evolutions.parquet"


@dataclass(frozen=True)
class Evolution:
    """A figure's value at the period before the one shown (same kind of period, source and nature)."""

    periode: str
    valeur: float
    periode_precedente: str
    valeur_precedente: float

    @property
    def variation_pct(self) -> float | None:
        """The change in per cent, or None from a zero (a rise from nothing has no percentage)."""
        if not self.valeur_precedente:
            return None
        return (self.valeur - self.valeur_precedente) / abs(self.valeur_precedente) * 100


def evolution_of(table: pl.DataFrame, niveau: str, code: str, indicateur: str, periode: str | None) -> Evolution | None:
    """The previous value of a figure in `valeurs/evolutions.parquet` (None when it has one period only).

    `periode`: the period shown; a row written for another period (an older data folder) is ignored.
    """
    row = table.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicateur))
    if row.height == 0 or periode is None or row["periode"][0] != periode:
        return None
    r = row.row(0, named=True)
    return Evolution(r["periode"], r["valeur"], r["periode_precedente"], r["valeur_precedente"])


def evolution(niveau: str, code: str, indicateur: str) -> Evolution | None:
    """The trend of the figure `valeur(niveau, code, indicateur)` shows, from the ETL's table (cached)."""
    shown = valeur(niveau, code, indicateur)
    try:
        table, index = data.indexed_table(EVOLUTIONS)
    except FileNotFoundError:  # a data folder built before the table: computed once, by the ETL's rule
        table, index = _evolutions_computed(data.version())
    span = index.get((niveau, code))
    return evolution_of(table.slice(*span), niveau, code, indicateur, shown.periode) if span else None


@st.cache_resource(show_spinner=False, max_entries=2)
def _evolutions_computed(version: str) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """`valeurs/evolutions.parquet` as the ETL writes it, for an older folder (`version`: the cache key)."""
    from etl.marts.equilibre import previous_values

    return data.by_territory(previous_values(data.indicateurs(), current()))
