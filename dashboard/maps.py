"""Pydeck map builders: pure functions from features and values to a `pydeck.Deck`.

Names from the data go into tooltips, which pydeck renders as HTML: they are escaped here,
once, for every map.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from dashboard import fmt

#: Sequential blues ending on the French state blue #000091 (5 classes) and a neutral grey.
BLUES = [[222, 229, 255], [170, 186, 245], [106, 128, 222], [48, 66, 178], [0, 0, 145]]
NO_DATA_COLOUR = [220, 220, 220]
HIGHLIGHT = [225, 0, 15]  # red #E1000F
MAP_HEIGHT = 520

#: An operator's own basemap: the URL of a MapLibre style (its tiles, its attribution).
BASEMAP_ENV = "OBSERVATOIRE_FOND_DE_CARTE"
#: pydeck's "no style given" value: Streamlit's deck.gl component then draws no basemap (with
#: `map_style=None` it would load CARTO's style and tiles from basemaps.cartocdn.com).
NO_BASEMAP = "__MAP_STYLE__"


def basemap() -> dict[str, str | None]:
    """The basemap arguments of every deck: none by default, or the style named by `BASEMAP_ENV`.

    No third-party call by default: a visitor's browser asks no tile server anything (privacy,
    and the maps look the same offline); the layers draw their own outlines instead.
    """
    style = os.environ.get(BASEMAP_ENV, "").strip()
    if style:
        return {"map_provider": "maplibre", "map_style": style}
    return {"map_provider": None, "map_style": NO_BASEMAP}


class Deck(pdk.Deck):
    """A pydeck Deck whose JSON is compact.

    pydeck pretty-prints its JSON (indent=2), which puts every coordinate on its own indented
    line and triples what the browser downloads; Streamlit sends `to_json()` as is.
    """

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"), ensure_ascii=False)



def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def quantile_breaks(values: Iterable[float | None], k: int = 5) -> list[float]:
    """Inner class breaks by quantiles (k-1 values) over the non-missing values."""
    arr = np.array([v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float)
    if arr.size == 0:
        return []
    # a break at the minimum would make an empty first class ("less than 0" when many values are 0)
    return sorted({b for b in np.quantile(arr, [i / k for i in range(1, k)]).tolist() if b > arr.min()})


def colour_for(value: float | None, breaks: list[float], palette: list[list[int]] = BLUES) -> list[int]:
    if fmt.is_missing(value):
        return NO_DATA_COLOUR
    idx = int(np.searchsorted(np.asarray(breaks), value, side="right")) if breaks else len(palette) - 1
    # spread the classes over the palette when there are fewer breaks than colours
    if breaks and len(breaks) + 1 < len(palette):
        idx = round(idx * (len(palette) - 1) / len(breaks))
    return palette[min(idx, len(palette) - 1)]


def bounds(features: list[dict]) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of some GeoJSON features."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for f in features:
        walk(f["geometry"]["coordinates"])
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def view_for(box: tuple[float, float, float, float] | None, *, width: int = 900, height: int = MAP_HEIGHT) -> pdk.ViewState:
    """A view that fits a bounding box (Web Mercator zoom)."""
    if box is None:
        return pdk.ViewState(longitude=2.5, latitude=46.6, zoom=4.6)
    x0, y0, x1, y1 = box
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2

    def merc(y: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(y) / 2))

    dx = max(x1 - x0, 1e-3) / 360
    dy = max(merc(y1) - merc(y0), 1e-4) / (2 * math.pi)
    zoom = min(math.log2(width / 512 / dx), math.log2(height / 512 / dy)) - 0.15
    return pdk.ViewState(longitude=lon, latitude=lat, zoom=max(1.0, min(zoom, 14.0)))


def choropleth(
    features: list[dict],
    values: dict[str, float | None],
    names: dict[str, str],
    *,
    value_label: str,
    unit: str,
    decimals: int = 1,
    highlight: Iterable[str] = (),
    layer_id: str = "territoires",
    extra_tooltip: dict[str, str] | None = None,
    fills: dict[str, str | None] | None = None,
) -> pdk.Deck:
    """Polygons coloured by quantile class of `values` (or by `fills`, hex colours), `highlight` outlined in red.

    Tooltip fields (`{nom}`, `{valeur}`, `{extra}`) hold raw text: Streamlit's deck.gl component
    HTML-escapes what it substitutes for a placeholder (escaping here too would show "&#x27;"
    for an apostrophe; a browser test checks both). Only the template's fixed text is escaped.
    """
    breaks = quantile_breaks(values.get(f["properties"]["code"]) for f in features)
    highlight = set(highlight)
    out = []
    for f in features:
        code = f["properties"]["code"]
        v = values.get(code)
        props = {
            "code": code,
            "nom": str(names.get(code, code)),
            "valeur": fmt.with_unit(v, unit, decimals),
            "extra": str((extra_tooltip or {}).get(code, "")),
            "fill": (_rgb(fills.get(code)) if fills is not None else colour_for(v, breaks)) + [200],
            "line": HIGHLIGHT if code in highlight else [255, 255, 255],
            # metres, clamped to 1-3 px below (pydeck would turn a "pixels" unit string into an expression)
            "width": 100_000 if code in highlight else 0,
        }
        out.append({"type": "Feature", "properties": props, "geometry": f["geometry"]})
    # highlighted polygons last, so that their red outline is drawn on top
    out.sort(key=lambda f: f["properties"]["code"] in highlight)
    layer = pdk.Layer(
        "GeoJsonLayer",
        id=layer_id,
        data={"type": "FeatureCollection", "features": out},
        pickable=True,
        stroked=True,
        filled=True,
        get_fill_color="properties.fill",
        get_line_color="properties.line",
        get_line_width="properties.width",
        line_width_min_pixels=1,
        line_width_max_pixels=3,
        auto_highlight=True,
        highlight_color=[225, 0, 15, 90],
    )
    tooltip = {
        "html": f"<b>{{nom}}</b><br/>{escape(value_label)} : {{valeur}}<br/>{{extra}}",
        "style": {"backgroundColor": "#FFFFFF", "color": "#161616", "fontSize": "13px"},
    }
    return Deck(layers=[layer], initial_view_state=view_for(bounds(features)), tooltip=tooltip, **basemap())


def legend(values: dict[str, float | None], unit: str, decimals: int = 1) -> list[tuple[str, str]]:
    """(hex colour, French label) per class, for a legend under the map."""
    breaks = quantile_breaks(values.values())
    edges = [None, *breaks, None]
    items = []
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        colour = colour_for(lo if lo is not None else (hi - 1e-9 if hi is not None else 0), breaks)
        if lo is None and hi is None:
            text = "toutes valeurs"
        elif lo is None:
            text = f"moins de {fmt.with_unit(hi, unit, decimals)}"
        elif hi is None:
            text = f"{fmt.with_unit(lo, unit, decimals)} et plus"
        else:
            text = f"{fmt.number(lo, decimals)} à {fmt.with_unit(hi, unit, decimals)}"
        items.append((hex_colour(colour), text))
    if any(fmt.is_missing(v) for v in values.values()):
        items.append((hex_colour(NO_DATA_COLOUR), fmt.NO_DATA))
    return items


def legend_html(items: list[tuple[str, str]], *, round_marks: bool = False) -> str:
    """Coloured marks and escaped labels, as HTML for `st.markdown(..., unsafe_allow_html=True)`."""
    radius = "border-radius:50%;" if round_marks else "border:1px solid #999;"
    return " ".join(
        f"<span style='display:inline-block;width:12px;height:12px;{radius}background:{colour};"
        f"margin:0 4px 0 10px'></span>{escape(text)}" for colour, text in items
    )


def _rgb(hex_colour: str | None) -> list[int]:
    if not hex_colour:
        return list(NO_DATA_COLOUR)
    h = hex_colour.lstrip("#")
    return [int(h[i:i + 2], 16) for i in (0, 2, 4)]


def hex_colour(rgb: list[int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb[:3])


def payload_bytes(deck: pdk.Deck) -> int:
    """Size of what the browser receives for this map (the deck's JSON)."""
    return len(deck.to_json().encode("utf-8"))


def to_json_dict(deck: pdk.Deck) -> dict:
    return json.loads(deck.to_json())
