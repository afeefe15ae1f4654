"""Logic of the page "Locations de courte durée": coverage, snapshots, comparisons, maps, extracts.

Pure functions over the marts of `etl/marts/locations_courte_duree.py` (`locations/*.parquet`
and the `str_*` rows of `indicateurs`), so that tests call exactly what the page shows.
Inside Airbnb covers a few cities only: a territory is "couvert" (it has rows), "partiel" (it
holds covered territories without being covered whole: the Gironde holds Bordeaux Métropole)
or "non couvert"; never a 0 for a city Inside Airbnb does not scrape.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pydeck as pdk
import streamlit as st

from dashboard import charts, data, fmt, maps
from dashboard.territory import Territory
from etl import periods as etl_periods

ATTRIBUTION = "Inside Airbnb, CC BY 4.0"
SOURCE_NOTE = "Source : Inside Airbnb (insideairbnb.com), licence CC BY 4.0"
PERIOD_PARAM = "instantane"

COVERED, PARTIAL, NOT_COVERED = "couvert", "partiel", "non couvert"

#: Key figures: indicator, short French label, is it an estimate.
KEY_FIGURES = [
    ("str_annonces", "Annonces"),
    ("str_annonces_pour_100_logements", "Annonces pour 100 logements"),
    ("str_part_logement_entier", "Logements entiers"),
    ("str_part_hotes_multi", "Annonces d'hôtes multi-annonces"),
    ("str_part_numero_valide", "Numéro d'enregistrement bien formé"),
    ("str_nuitees_estimees", "Nuitées estimées sur 12 mois"),
]
#: Indicators of the comparison and evolution tables, in order.
TABLE_INDICATORS = [
    "str_annonces", "str_annonces_pour_100_logements", "str_annonces_pour_1000_hab", "str_part_logement_entier",
    "str_part_hotes_multi", "str_part_hotes_10_plus", "str_part_tres_disponibles", "str_nuitees_estimees",
    "str_part_entiers_plus_120_nuits", "str_part_numero_valide", "str_part_numero_exempt", "str_part_bail_mobilite",
    "str_part_sans_numero", "str_prix_median",
]
ROOM_TYPES = [("logements_entiers", "Logement entier"), ("chambres_privees", "Chambre privée"),
              ("chambres_hotel", "Chambre d'hôtel"), ("chambres_partagees", "Chambre partagée"),
              ("autres_types", "Autre")]
ROOM_COLOURS = {"Logement entier": [0, 0, 145], "Chambre privée": [225, 0, 15], "Chambre d'hôtel": [230, 140, 0],
                "Chambre partagée": [24, 117, 60], "Autre": [120, 120, 120]}
HOST_CLASSES = [("annonces_hotes_1", "1 annonce"), ("annonces_hotes_2_4", "2 à 4"), ("annonces_hotes_5_9", "5 à 9"),
                ("annonces_hotes_10_plus", "10 et plus")]
LICENCE_CLASSES = [("numero_valide", "valide", "Numéro bien formé"), ("numero_exempte", "exempte", "Exemptée (type hôtel)"),
                   ("bail_mobilite", "bail_mobilite", "Bail mobilité"), ("numero_absent", "absent", "Aucun numéro"),
                   ("numero_mal_forme", "mal_forme", "Numéro mal formé")]
LICENCE_LABELS = {code: label for _, code, label in LICENCE_CLASSES}
#: Below this many listings, shares are flagged as fragile.
SMALL_COUNT = 20


# -- coverage -------------------------------------------------------------------------------------
def cities(instantanes: pl.DataFrame) -> pl.DataFrame:
    """One row per city: its perimeter and its snapshots (periods, sorted)."""
    return (
        instantanes.sort(etl_periods.sort_expr("instantane"))
        .group_by("ville", maintain_order=True)
        .agg(pl.col("nom_ville").first(), pl.col("perimetre").last(), pl.col("perimetre_niveau").last(),
             pl.col("perimetre_code").last(), pl.col("instantane").alias("periodes"))
        .sort(fmt.sort_key_expr("nom_ville"), "ville")
    )


def coverage_sentence(instantanes: pl.DataFrame) -> str:
    """"Bordeaux Métropole (28 communes), décembre 2021 et mars 2024 ; Lyon (9 arrondissements), …"."""
    parts = []
    for row in cities(instantanes).iter_rows(named=True):
        months = [fmt.period(p) for p in row["periodes"]]
        dates = months[0] if len(months) == 1 else ", ".join(months[:-1]) + " et " + months[-1]
        where = row["perimetre"] if row["nom_ville"] in row["perimetre"] else f"{row['nom_ville']} : {row['perimetre']}"
        parts.append(f"{where}, {dates}")
    return " ; ".join(parts)


def periods_of(detail: pl.DataFrame, t: Territory) -> list[str]:
    """The snapshots for which `t` has figures (none when it is not covered)."""
    mine = detail.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code))
    return etl_periods.sort(mine["instantane"].unique().to_list())


def inside(t: Territory, detail: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
    """Covered territories within `t`, for a territory covered in part: `niveau`, `code`, `nom`, `instantane`.

    A département lists its covered EPCI and communes; France and a région list only the largest
    covered territories (an EPCI, or a commune whose EPCI is not covered whole).
    """
    parents = territoires.select("niveau", "code", "nom", "code_commune", "code_epci", "code_departement",
                                 "code_region")
    rows = detail.select("niveau", "code", "instantane").join(parents, on=["niveau", "code"], how="left")
    if t.niveau in ("france", "region"):
        epcis = rows.filter(pl.col("niveau") == "epci").select("instantane", pl.col("code").alias("code_epci"))
        top = rows.filter(pl.col("niveau") == "epci").vstack(
            rows.filter(pl.col("niveau") == "commune").join(epcis, on=["instantane", "code_epci"], how="anti"))
        if t.niveau == "region":
            regions = territoires.filter(pl.col("niveau") == "epci").select("code", pl.col("code_region").alias("_r"))
            top = top.join(regions, on="code", how="left").filter(
                pl.coalesce("code_region", "_r") == t.code).drop("_r")
        return top.sort(["niveau", "code", *etl_periods.sort_expr("instantane")])
    if t.niveau == "departement":
        cond = (pl.col("code_departement") == t.code) & pl.col("niveau").is_in(["epci", "commune"])
    elif t.niveau == "epci":
        cond = (pl.col("code_epci") == t.code) & (pl.col("niveau") == "commune")
    elif t.niveau == "commune":
        cond = (pl.col("code_commune") == t.code) & (pl.col("niveau") == "arrondissement")
    else:
        return rows.head(0)
    return rows.filter(cond).sort(["niveau", "code", *etl_periods.sort_expr("instantane")])


def status(t: Territory, detail: pl.DataFrame, territoires: pl.DataFrame) -> str:
    if periods_of(detail, t):
        return COVERED
    return PARTIAL if inside(t, detail, territoires).height else NOT_COVERED


def choose_period(requested: str | None, periods: list[str]) -> tuple[str, str | None]:
    """The snapshot to show: the one asked in the link if it exists, else the latest (with a French message)."""
    periods = etl_periods.sort(periods)
    latest = periods[-1]
    if requested is None or requested == "":
        return latest, None
    if requested in periods:
        return requested, None
    shown = "".join(ch for ch in str(requested) if ch.isalnum() or ch == "-")[:20]
    known = ", ".join(fmt.period(p) for p in periods)
    return latest, (f"Instantané « {shown} » indisponible pour ce territoire (disponibles : {known}) : "
                    f"le plus récent, {fmt.period(latest)}, est affiché.")


def previous(period: str, periods: list[str]) -> str | None:
    current = etl_periods.parse(period)
    earlier = [p for p in etl_periods.sort(periods) if etl_periods.parse(p) < current]
    return earlier[-1] if earlier else None


# -- figures -----------------------------------------------------------------------------------------
def values(indicateurs: pl.DataFrame, keys: Iterable[tuple[str, str]], period: str) -> pl.DataFrame:
    """`str_*` rows of some territories at one snapshot."""
    keys = list(keys)
    key_df = pl.DataFrame({"niveau": [k[0] for k in keys], "code": [k[1] for k in keys]},
                          schema={"niveau": pl.String, "code": pl.String})
    return indicateurs.filter(pl.col("indicateur").str.starts_with("str_") & (pl.col("periode") == period)).join(
        key_df, on=["niveau", "code"], how="semi")


def value_of(rows: pl.DataFrame | dict, t: Territory | tuple[str, str], indicator: str) -> float | None:
    """The value of one indicator of one territory in `rows` (a frame of `values`, or its `value_map`)."""
    niveau, code = t.key if isinstance(t, Territory) else t
    if isinstance(rows, dict):
        return rows.get((niveau, code, indicator))
    hit = rows.filter((pl.col("niveau") == niveau) & (pl.col("code") == code) & (pl.col("indicateur") == indicator))
    return hit["valeur"][0] if hit.height else None


def value_map(rows: pl.DataFrame) -> dict[tuple[str, str, str], float | None]:
    """(niveau, code, indicateur) -> valeur of `values` rows, the first row of each as `value_of` takes it:
    a page reads dozens of cells, and a polars filter per cell cost about 0.5 ms each."""
    out: dict[tuple[str, str, str], float | None] = {}
    for n, c, i, v in rows.select("niveau", "code", "indicateur", "valeur").iter_rows():
        out.setdefault((n, c, i), v)
    return out


def peers(t: Territory, detail: pl.DataFrame, territoires: pl.DataFrame, period: str) -> pl.DataFrame:
    """Covered territories comparable with `t` at `period`: communes and arrondissements together
    (a city without its own arrondissements, an arrondissement without its city), or the same level."""
    here = detail.filter(pl.col("instantane") == period).select("niveau", "code").join(
        territoires.select("niveau", "code", "nom", "code_commune", "population"), on=["niveau", "code"])
    if t.niveau in ("commune", "arrondissement"):
        out = here.filter(pl.col("niveau").is_in(["commune", "arrondissement"]))
        if t.niveau == "commune":
            out = out.filter(pl.col("code_commune").is_null() | (pl.col("code_commune") != t.code))
        else:
            out = out.filter(pl.col("code") != t.code_commune)
    else:
        out = here.filter(pl.col("niveau") == t.niveau)
    return out.sort("niveau", "code")


def rank_among(t: Territory, peer_values: pl.DataFrame, indicator: str) -> tuple[int, int] | None:
    """(rank, out of) of `t` among its covered peers for one indicator, highest first."""
    vals = peer_values.filter(pl.col("indicateur") == indicator).sort("valeur", descending=True)
    keys = list(zip(vals["niveau"], vals["code"], strict=True))
    if t.key not in keys:
        return None
    return keys.index(t.key) + 1, len(keys)


def rank_text(rank: tuple[int, int] | None, what: str) -> str:
    """"3e sur 37 communes…"; nothing when there are fewer than 3 to rank."""
    if rank is None or rank[1] < 3:
        return ""
    r, n = rank
    return f"{'1er' if r == 1 else f'{r}e'} sur {n} {what}"


def perimeters(instantanes: pl.DataFrame, period: str) -> list[tuple[str, str, str]]:
    """(niveau, code, label) of each city's covered perimeter at a snapshot (Bordeaux Métropole, Lyon)."""
    rows = instantanes.filter((pl.col("instantane") == period) & pl.col("perimetre_code").is_not_null())
    return [(r["perimetre_niveau"], r["perimetre_code"], r["perimetre"]) for r in rows.sort(fmt.sort_key_expr("nom_ville"), "ville").iter_rows(named=True)]


def evolution_table(indicateurs: pl.DataFrame, catalogue: pl.DataFrame, t: Territory, periods: list[str]) -> pl.DataFrame:
    """One row per indicator, one column per snapshot (French text), and the change between the last two."""
    rows = indicateurs.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)
                              & pl.col("indicateur").is_in(TABLE_INDICATORS))
    meta = {r["indicateur"]: r for r in catalogue.iter_rows(named=True)}
    out = []
    for ind in TABLE_INDICATORS:
        m = meta.get(ind)
        if m is None:
            continue
        mine = {p: v for p, v in rows.filter(pl.col("indicateur") == ind).select("periode", "valeur").iter_rows()}
        nature = rows.filter(pl.col("indicateur") == ind)["nature"]
        line: dict[str, Any] = {"Indicateur": m["libelle"] + (" (estimation)" if "estime" in nature.to_list() else "")}
        for p in periods:
            line[fmt.period(p)] = short_value(mine.get(p), m["unite"], m["decimales"])
        if len(periods) >= 2:
            a, b = mine.get(periods[-2]), mine.get(periods[-1])
            line["Évolution"] = change_text(a, b, m["unite"], m["decimales"])
        out.append(line)
    return pl.DataFrame(out)


def short_value(value: float | None, unit: str, decimals: int) -> str:
    """A value in a table or card whose label already names the unit: "78,9 %", "91 €", "12 030"."""
    if unit == "%":
        return fmt.with_unit(value, "%", decimals)
    if unit.startswith("€"):
        return fmt.with_unit(value, "€", decimals)
    return fmt.number(value, decimals)


#: Short headers of the comparison tables (the catalogue's labels are long for a table's header).
SHORT_LABELS = {
    "str_annonces": "Annonces",
    "str_annonces_pour_100_logements": "Annonces pour 100 logements",
    "str_part_logement_entier": "Logements entiers",
    "str_part_hotes_multi": "Hôtes multi-annonces",
    "str_part_numero_valide": "Numéro bien formé",
    "str_prix_median": "Prix médian par nuit",
}


def indicator_table(vals: pl.DataFrame, keys: list[tuple[str, str]], labels: list[str], indicators: list[str],
                    meta: dict[str, dict]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One row per territory (`labels`), one numeric column per indicator, and each column's format.

    The numbers stay numbers (a click on a header sorts them); `dashboard.tables` shows them in
    French with their unit ("78,9 %", "91 €").
    """
    from dashboard import tables  # streamlit-bound: imported where a page needs it

    columns: dict[str, list] = {"Territoire": labels}
    numbers: dict[str, Any] = {}
    lookup = value_map(vals)
    for ind in indicators:
        m = meta[ind]
        header, spec = tables.indicator_column(SHORT_LABELS.get(ind, m["libelle"]), m["unite"], m["decimales"])
        columns[header] = [lookup.get((*k, ind)) for k in keys]
        numbers[header] = spec
    schema = {"Territoire": pl.String, **{h: pl.Float64 for h in numbers}}
    return pl.DataFrame(columns, schema=schema), numbers


def change_text(before: float | None, after: float | None, unit: str, decimals: int) -> str:
    """"+12 %" for counts, "+2,3 points" for shares, "pas de donnée" when one side is missing."""
    if fmt.is_missing(before) or fmt.is_missing(after):
        return fmt.NO_DATA
    if unit == "%":
        diff = after - before
        sign = "+" if diff > 0 else ("−" if diff < 0 else "")
        return f"{sign}{fmt.number(abs(diff), 1)} point{'s' if abs(diff) >= 2 else ''}"
    if before == 0:
        return fmt.NO_DATA
    return fmt.signed_percent((after - before) / before * 100, 0)


# -- detail frames for the charts ---------------------------------------------------------------------
def detail_row(detail: pl.DataFrame, t: Territory, period: str) -> dict[str, Any] | None:
    hit = detail.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code) & (pl.col("instantane") == period))
    return hit.row(0, named=True) if hit.height else None


def breakdown(row: dict[str, Any], classes: list[tuple[str, str]] | list[tuple[str, str, str]]) -> pl.DataFrame:
    """Counts and shares of listings per class (room types, host sizes, registration statuses)."""
    labels = [c[-1] for c in classes]
    counts = [int(row.get(c[0]) or 0) for c in classes]
    total = sum(counts)
    return pl.DataFrame({"classe": labels, "annonces": counts,
                         "part": [c / total * 100 if total else None for c in counts]},
                        schema={"classe": pl.String, "annonces": pl.Int64, "part": pl.Float64})


def nights_distribution(nuitees: pl.DataFrame, t: Territory, period: str, entire: bool = True) -> pl.DataFrame:
    """Listings per class of estimated nights (entire homes by default), in class order."""
    return nuitees.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)
                          & (pl.col("instantane") == period) & (pl.col("logement_entier") == entire)
                          ).sort("ordre").select("ordre", "classe", "annonces")


def turnover(rotation: pl.DataFrame, t: Territory, period: str) -> pl.DataFrame:
    """Stayed / appeared / disappeared by room type, between the previous snapshot and `period`."""
    return rotation.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code) & (pl.col("fin") == period)
                           ).sort("type_logement")


def turnover_sentence(flows: pl.DataFrame) -> str:
    if flows.height == 0:
        return ""
    start, end = flows["debut"][0], flows["fin"][0]
    s, a, d = (int(flows[c].sum()) for c in ("restees", "apparues", "disparues"))
    return (f"Entre {fmt.period(start)} et {fmt.period(end)} : {fmt.number(s)} annonces présentes aux deux dates, "
            f"{fmt.number(a)} apparues, {fmt.number(d)} disparues (comparaison par identifiant d'annonce).")


def bar_chart(frame: pl.DataFrame, x: str, y: str, *, colours: list[str] | str = "#000091",
              text: list[str] | None = None, horizontal: bool = False, height: int = 300,
              layout: dict[str, Any] | None = None) -> go.Figure:
    """A plain bar chart (French separators, no hover: the bars carry their labels); `layout`: more of it
    (axis titles, a line), built with the rest in one go (`charts.figure`)."""
    cats, vals = frame[x].to_list(), frame[y].to_list()
    spec: dict[str, Any] = dict(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white")
    if horizontal:
        spec["yaxis"] = {"autorange": "reversed"}
    if y == "part":  # shares: the value axis says "%"
        axis = "xaxis" if horizontal else "yaxis"
        spec[axis] = {**spec.get(axis, {}), "ticksuffix": fmt.NNBSP + "%"}
    for key, value in (layout or {}).items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and isinstance(spec.get(key), dict) else value
    return charts.figure(go.Bar(x=vals if horizontal else cats, y=cats if horizontal else vals,
                                orientation="h" if horizontal else "v", marker_color=colours, text=text,
                                textposition="auto", hoverinfo="skip"), spec)


#: Classes of estimated nights from this one (`ordre`) lie above the 120-night cap: drawn red, right of the line.
ABOVE_CAP = 5


def nights_chart(nights: pl.DataFrame) -> go.Figure:
    """Entire homes per class of estimated nights, the classes above 120 nights in red, the cap a dashed line."""
    red, blue = "#E1000F", "#000091"
    return bar_chart(
        nights, "classe", "annonces", colours=[red if o >= ABOVE_CAP else blue for o in nights["ordre"]],
        text=[fmt.number(n) for n in nights["annonces"]], height=320,
        layout={"xaxis": {"title": {"text": "Nuitées estimées sur 12 mois (estimation)"}},
                "yaxis": {"title": {"text": "Logements entiers"}},
                "shapes": [{"type": "line", "x0": ABOVE_CAP - 0.5, "x1": ABOVE_CAP - 0.5, "xref": "x", "y0": 0,
                            "y1": 1, "yref": "y domain", "line": {"color": red, "dash": "dash"}}],
                "annotations": [{"showarrow": False, "text": "120 nuits", "x": ABOVE_CAP - 0.5, "xanchor": "center",
                                 "xref": "x", "y": 1, "yanchor": "bottom", "yref": "y domain"}]})


def turnover_chart(flows: pl.DataFrame) -> go.Figure:
    """Grouped bars per room type: listings present at both dates, appeared, disappeared."""
    return charts.figure([
        go.Bar(name=label, x=flows["type_logement"].to_list(), y=flows[col].to_list(), marker_color=colour,
               text=[fmt.number(v) for v in flows[col]], textposition="auto", hoverinfo="skip")
        for col, label, colour in (("restees", "présentes aux deux dates", "#000091"),
                                   ("apparues", "apparues", "#18753C"), ("disparues", "disparues", "#E1000F"))
    ], dict(barmode="group", height=320, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
            legend=dict(orientation="h")))


# -- listings and maps ----------------------------------------------------------------------------------
def listings_of(points: pl.DataFrame, t: Territory, territoires: pl.DataFrame, period: str) -> pl.DataFrame:
    """The listings standing in `t` at one snapshot."""
    df = points.filter(pl.col("instantane") == period)
    if t.niveau == "arrondissement":
        return df.filter(pl.col("code_arrondissement") == t.code)
    if t.niveau == "commune":
        return df.filter(pl.col("code_commune") == t.code)
    if t.niveau == "france":
        return df
    key = {"epci": "code_epci", "departement": "code_departement", "region": "code_region"}[t.niveau]
    codes = territoires.filter((pl.col("niveau") == "commune") & (pl.col(key) == t.code))["code"]
    return df.filter(pl.col("code_commune").is_in(codes.implode()))


def map_units(t: Territory, detail: pl.DataFrame, territoires: pl.DataFrame, period: str) -> tuple[str, list[str]]:
    """The polygons of the choropleth: Lyon's arrondissements, or the covered communes around or inside `t`."""
    here = detail.filter(pl.col("instantane") == period).join(
        territoires.select("niveau", "code", "code_commune", "code_epci", "code_departement", "code_region"),
        on=["niveau", "code"])
    city = t.code_commune if t.niveau == "arrondissement" else t.code if t.niveau == "commune" else None
    arr = here.filter((pl.col("niveau") == "arrondissement") & (pl.col("code_commune") == city)) if city else here.head(0)
    if arr.height:
        return "arrondissement", sorted(arr["code"].to_list())
    communes = here.filter(pl.col("niveau") == "commune")
    if t.niveau == "commune":
        same = communes.filter(pl.col("code_epci") == t.code_epci) if t.code_epci else communes.head(0)
        return "commune", sorted(same["code"].to_list()) or [t.code]
    key = {"epci": "code_epci", "departement": "code_departement", "region": "code_region"}.get(t.niveau)
    chosen = sorted((communes.filter(pl.col(key) == t.code) if key else communes)["code"].to_list())
    arr = here.filter((pl.col("niveau") == "arrondissement") & pl.col("code_commune").is_in(chosen))
    if len(chosen) == 1 and arr.height:  # the Métropole de Lyon holds one covered commune: show its arrondissements
        return "arrondissement", sorted(arr["code"].to_list())
    return "commune", chosen


def points_deck(listings: pl.DataFrame, outlines: list[dict] | None = None) -> pdk.Deck:
    """Listings as points coloured by room type; the tooltip shows the name and type as text.

    The tooltip template holds no data: names reach it only through `{placeholders}`, which
    Streamlit (>= 1.67, see pyproject) HTML-escapes when it fills them in. Escaping them here as
    well would show "&lt;" to the user; tests/test_str_page.py checks in Chromium that a listing
    named `<img src=x onerror=alert(1)>` shows as that text and runs nothing.
    """
    # short keys, the colour computed in the browser from the type, no indentation: about 140 bytes a
    # listing (330 with pydeck's indented JSON, long keys and a colour array per listing)
    # the records built by columns, each price written once (a city's 10,000 listings have a few hundred prices)
    prices = listings["prix"].to_list()
    price_text = {p: fmt.with_unit(p, "€ par nuit", 0) for p in set(prices) if p is not None}
    data = listings.select(
        n=pl.when(pl.col("nom").fill_null("") == "").then(pl.lit("(sans titre)")).otherwise(pl.col("nom")),
        t=pl.col("type_logement"),
        p=pl.Series([price_text[p] if p is not None else "prix non affiché" for p in prices], dtype=pl.String),
        r=pl.col("statut_numero").replace_strict(LICENCE_LABELS, default="inconnu", return_dtype=pl.String)
        .fill_null("inconnu"),
        x=pl.col("longitude"),
        y=pl.col("latitude"),
    ).to_dicts()
    colour = " : ".join(f't == "{kind}" ? {rgb}' for kind, rgb in ROOM_COLOURS.items() if kind != "Autre")
    colour += f" : {ROOM_COLOURS['Autre']}"
    layers = []
    if outlines:
        layers.append(pdk.Layer("GeoJsonLayer", id="contours", data={"type": "FeatureCollection", "features": outlines},
                                stroked=True, filled=False, get_line_color=[90, 90, 90], line_width_min_pixels=1,
                                pickable=False))
    layers.append(pdk.Layer("ScatterplotLayer", id="annonces", data=data, get_position=["x", "y"],
                            get_fill_color=colour, get_radius=25, radius_min_pixels=2.5, radius_max_pixels=8,
                            opacity=0.75, pickable=True, auto_highlight=True))
    if listings.height:
        box = (listings["longitude"].min(), listings["latitude"].min(), listings["longitude"].max(),
               listings["latitude"].max())
    else:
        box = maps.bounds(outlines or [])
    tooltip = {
        "html": "<b>{n}</b><br/>{t} · {p}<br/>Enregistrement : {r}",
        "style": {"backgroundColor": "#FFFFFF", "color": "#161616", "fontSize": "13px", "maxWidth": "320px"},
    }
    return maps.Deck(layers=layers, initial_view_state=maps.view_for(box), tooltip=tooltip, **maps.basemap())


@dataclass(frozen=True)
class ListingsView:
    """What the page's listings section draws for one territory and snapshot (built once, shared)."""

    listings: pl.DataFrame
    #: level and codes of the covered polygons around or inside the territory (`map_units`)
    niveau: str
    codes: list[str]
    deck: pdk.Deck


def listings_view(t: Territory, period: str) -> ListingsView:
    """The listings of `t` at `period` and their map, built once per data version and territory: the
    deck of a city's 10,000 listings cost about 0.1 s of server CPU per view. Read-only."""
    return _listings_view(data.version(), t, period)


@st.cache_resource(show_spinner=False, max_entries=32)
def _listings_view(v: str, t: Territory, period: str) -> ListingsView:
    territoires = data.territoires()
    listings = listings_of(data.table("locations/annonces.parquet", v), t, territoires, period)
    niveau, codes = map_units(t, data.table("locations/territoires.parquet", v), territoires, period)
    outline_codes = [t.code] if t.niveau in ("commune", "arrondissement") else codes
    outline_level = t.niveau if t.niveau in ("commune", "arrondissement") else niveau
    outlines = data.features(outline_level, tuple(outline_codes)) if outline_codes else []
    return ListingsView(listings, niveau, codes, points_deck(listings, outlines).freeze())


def listings_table(listings: pl.DataFrame) -> pl.DataFrame:
    """The listings as a French table (names are plain text here: a table never renders HTML)."""
    return listings.sort(fmt.sort_key_expr("nom"), "id", nulls_last=True).select(
        pl.when(pl.col("nom").str.strip_chars().fill_null("") == "").then(pl.lit("(sans titre)"))
        .otherwise(pl.col("nom")).alias("Annonce"),
        pl.col("type_logement").alias("Type"),
        pl.col("prix").alias("Prix par nuit"),
        pl.col("nuits_minimum").alias("Nuits minimum"),
        pl.col("nuitees_estimees").alias("Nuitées estimées (12 mois)"),
        pl.col("annonces_hote").alias("Annonces de l'hôte"),
        pl.col("statut_numero").replace_strict(LICENCE_LABELS, default="inconnu").alias("Enregistrement"),
        pl.col("numero").alias("Numéro affiché"),
        pl.col("id").alias("Identifiant Airbnb"),
    )


def csv_bytes(df: pl.DataFrame, attribution: str = ATTRIBUTION) -> bytes:
    """CSV for French Excel (`;`, UTF-8 with BOM), formula-like cells neutralised, attribution column."""
    df = df.with_columns(pl.lit(attribution).alias("Source"))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(df.columns)
    for row in df.iter_rows():
        writer.writerow([_neutralise(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _neutralise(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return fmt.number(value, 2).replace("\u202f", "") if value != int(value) else str(int(value))
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
