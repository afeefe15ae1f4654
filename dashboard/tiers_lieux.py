"""Page "Tiers-lieux": the places of a territory, their map with the 10 km coverage, the farthest communes.

Pure functions over the marts (`tiers_lieux/lieux.parquet`, `indicateurs`, `territoires`):
the page only lays them out. Names, addresses and websites come from the source's data: they
are escaped for the map's tooltip (HTML) and shown as plain text in tables.
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pydeck as pdk
import shapely

from dashboard import fmt, maps
from dashboard.territory import Territory, names_of
from etl.geo import nearest_km
from etl.tiers_lieux_schema import TYPE_LABELS

PLACES_TABLE = "tiers_lieux/lieux.parquet"
#: Distance from a commune's centre to the nearest place (an indicator of `indicateurs`).
DISTANCE = "distance_tiers_lieu_km"
KEY_INDICATORS = ["tiers_lieux", "tiers_lieux_pour_10000_hab", "part_pop_10km_tiers_lieu", "part_pop_20km_tiers_lieu"]
COVERAGE_KM = 10
TYPE_COLOURS = {"coworking": [0, 0, 145], "fablab": [225, 0, 15], "inconnu": [110, 110, 110]}
COVERAGE_COLOUR = [106, 128, 222]
SHORT_TYPES = {"coworking": "coworking", "fablab": "fablab", "inconnu": "type non renseigné"}
#: Which column of the places table holds each level's code.
LEVEL_COLUMNS = {"commune": "code_commune", "arrondissement": "code_arrondissement", "epci": "code_epci",
                 "departement": "code_departement", "region": "code_region"}


def places_of(lieux: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """The places located in territory `t` (all of them for France)."""
    if t.niveau == "france":
        return lieux
    return lieux.filter(pl.col(LEVEL_COLUMNS[t.niveau]) == t.code)


def places_around(lieux: pl.DataFrame, box: tuple[float, float, float, float] | None) -> pl.DataFrame:
    """The places inside a bounding box (see `view_box`): the territory's and its neighbours'."""
    if box is None:
        return lieux
    x0, y0, x1, y1 = box
    return lieux.filter(pl.col("longitude").is_between(x0, x1) & pl.col("latitude").is_between(y0, y1))


def type_counts(places: pl.DataFrame) -> dict[str, int]:
    """Places per type, in the order coworking, fablab, unknown."""
    counts = dict(places.group_by("type").len().iter_rows())
    return {k: counts.get(k, 0) for k in TYPE_LABELS}


def places_table(places: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
    """The places as shown in the page's table (French column names, plain text)."""
    names = territoires.filter(pl.col("niveau") == "commune").select(pl.col("code").alias("code_commune"),
                                                                     pl.col("nom").alias("Commune"))
    return (
        places.join(names, on="code_commune", how="left")
        .sort(fmt.sort_key_expr("Commune"), fmt.sort_key_expr("nom"), "identifiant")
        .select(
            pl.col("nom").alias("Nom"),
            pl.col("type").replace_strict(SHORT_TYPES, default="type non renseigné").alias("Type"),
            pl.col("adresse").fill_null("").alias("Adresse"),
            pl.col("code_postal").fill_null("").alias("Code postal"),
            pl.col("Commune").fill_null(""),
            pl.col("site_web").fill_null("").alias("Site web"),
        )
    )


def farthest_communes(indicateurs: pl.DataFrame, territoires: pl.DataFrame, lieux: pl.DataFrame, t: Territory,
                      n: int = 10) -> pl.DataFrame:
    """The communes of `t` farthest from any tiers-lieu, with the nearest place (anywhere).

    Columns: `code`, `nom`, `population`, `distance_km`, `lieu_proche`, `commune_lieu_proche`.
    For a commune or an arrondissement: itself.
    """
    col = pl.col
    level = t.niveau if t.niveau in ("commune", "arrondissement") else "commune"
    mine = territoires.filter(col("niveau") == level)
    if t.niveau in ("commune", "arrondissement"):
        mine = mine.filter(col("code") == t.code)
    elif t.niveau != "france":
        mine = mine.filter(col(LEVEL_COLUMNS[t.niveau]) == t.code)
    dist = indicateurs.filter((col("indicateur") == DISTANCE) & (col("niveau") == level)).select(
        "code", pl.col("valeur").alias("distance_km"))
    top = (
        mine.select("code", "nom", "population", "longitude", "latitude")
        .join(dist, on="code", how="inner")
        .sort(["distance_km", "population", "code"], descending=[True, True, False])
        .head(n)
    )
    if top.height == 0 or lieux.height == 0:
        return top.drop("longitude", "latitude").with_columns(lieu_proche=pl.lit(None, pl.String),
                                                              commune_lieu_proche=pl.lit(None, pl.String))
    _, idx = nearest_km(top["longitude"].to_numpy(), top["latitude"].to_numpy(), lieux["longitude"].to_numpy(),
                        lieux["latitude"].to_numpy())
    names = names_of(territoires, "commune")
    chosen = lieux[np.maximum(idx, 0).tolist()]
    return top.drop("longitude", "latitude").with_columns(
        lieu_proche=chosen["nom"],
        commune_lieu_proche=pl.Series([names.get(c, c) for c in chosen["code_commune"].to_list()], dtype=pl.String),
    )


def coverage_area(places: pl.DataFrame, km: float = COVERAGE_KM, vertices: int = 32) -> dict | None:
    """The area within `km` of any place, as one GeoJSON geometry (the union of the discs).

    One polygon rather than one disc per place, so that overlapping discs do not pile up into
    an opaque blob on the map. Discs are drawn in lon/lat (wider in longitude by 1/cos(latitude)),
    which is exact enough at this scale.
    """
    if places.height == 0:
        return None
    lon, lat = places["longitude"].to_numpy(), places["latitude"].to_numpy()
    angle = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radius = km / 111.2  # degrees of latitude
    xs = lon[:, None] + radius * np.cos(angle)[None, :] / np.cos(np.radians(lat))[:, None]
    ys = lat[:, None] + radius * np.sin(angle)[None, :]
    area = shapely.union_all(shapely.polygons(np.stack([xs, ys], axis=-1)))
    return json.loads(shapely.to_geojson(shapely.set_precision(area, 1e-4)))


def view_box(outline: list[dict], margin_km: float) -> tuple[float, float, float, float] | None:
    """The outline's bounding box widened by `margin_km`, so that the coverage around it shows."""
    box = maps.bounds(outline)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    dlat = margin_km / 111.2
    dlon = margin_km / (111.2 * max(math.cos(math.radians((y0 + y1) / 2)), 0.1))
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


def place_map(outline: list[dict], places: pl.DataFrame, inside: set[str], territoires: pl.DataFrame,
              *, coverage: dict | None = None, box: tuple[float, float, float, float] | None = None) -> pdk.Deck:
    """The territory's outline, the area within 10 km of a place (`coverage_area`), and the places.

    Places of the territory are drawn larger than the neighbours shown around it. The tooltip
    (name, type, address, website) holds placeholders only: Streamlit's deck.gl component
    HTML-escapes the raw text it puts in them (see `dashboard.maps.choropleth`). `box`: what
    the view fits (None: metropolitan France).
    """
    names = names_of(territoires, "commune")
    # France: metropolitan France fills the frame, the DROM (outlines, places, coverage) in insets
    framing = maps.frame(outline) if box is None else None
    if framing is not None and framing.insets:
        outline, coverage = framing.features, framing.geometry(coverage)
    else:
        framing = None
    records = []
    for r in places.iter_rows(named=True):
        address = ", ".join(x for x in (r["adresse"], " ".join(y for y in (r["code_postal"],
                                        names.get(r["code_commune"], r["commune_adresse"])) if y)) if x)
        lon, lat = framing.point(r["longitude"], r["latitude"]) if framing else (r["longitude"], r["latitude"])
        records.append({
            "lon": lon, "lat": lat,
            "nom": r["nom"],
            "type": TYPE_LABELS.get(r["type"], r["type"]),
            "adresse": address or "adresse non renseignée",
            "site": r["site_web"] or "pas de site renseigné",
            "couleur": TYPE_COLOURS.get(r["type"], TYPE_COLOURS["inconnu"]) + [230 if r["identifiant"] in inside
                                                                                 else 150],
            "rayon": 6 if r["identifiant"] in inside else 3,
        })
    area = [{"type": "Feature", "properties": {}, "geometry": coverage}] if coverage else []
    layers = [
        pdk.Layer("GeoJsonLayer", id="couverture", data={"type": "FeatureCollection", "features": area},
                  stroked=False, filled=True, get_fill_color=COVERAGE_COLOUR + [70], pickable=False),
        pdk.Layer("GeoJsonLayer", id="territoire", data={"type": "FeatureCollection", "features": outline},
                  stroked=True, filled=False, get_line_color=[0, 0, 145], line_width_min_pixels=2, pickable=False),
        pdk.Layer("ScatterplotLayer", id="lieux", data=records, get_position=["lon", "lat"], get_radius="rayon",
                  radius_units="'pixels'", get_fill_color="couleur", get_line_color=[255, 255, 255],
                  stroked=True, line_width_min_pixels=1, pickable=True),
    ]
    tooltip = {
        "html": "<b>{nom}</b><br/>{type}<br/>{adresse}<br/>{site}",
        "style": {"backgroundColor": "#FFFFFF", "color": "#161616", "fontSize": "13px"},
    }
    if framing:
        layers += maps.inset_layers(framing.insets)
    return maps.Deck(layers=layers, initial_view_state=framing.view if framing else maps.view_for(box),
                     tooltip=tooltip, **maps.basemap())


def legend_items() -> list[tuple[str, str]]:
    """(hex colour, French label) for the map's legend."""
    return [(maps.hex_colour(TYPE_COLOURS[k]), TYPE_LABELS[k]) for k in TYPE_LABELS] + [
        (maps.hex_colour(COVERAGE_COLOUR), f"à moins de {COVERAGE_KM} km d'un tiers-lieu")]


def distance_text(km: float | None) -> str:
    return fmt.with_unit(km, "km", 1)
