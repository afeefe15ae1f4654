"""Pydeck map builders: pure functions from features and values to a `pydeck.Deck`.

Names from the data go into tooltips, which pydeck renders as HTML: they are escaped here,
once, for every map.
"""

from __future__ import annotations

import html
import json
import math
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize
from pydeck.types import String

from dashboard import fmt

#: Sequential blues ending on the French state blue #000091 (5 classes) and a neutral grey.
BLUES = [[222, 229, 255], [170, 186, 245], [106, 128, 222], [48, 66, 178], [0, 0, 145]]
#: "Pas de donnée" / "non couvert": blank, outlined in grey, its own legend entry; never a shade of
#: a palette (the lowest blue, or the light grey of the bivariate palette, mean a value).
NO_DATA_COLOUR = [255, 255, 255]
NO_DATA_LINE = [140, 140, 140]
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
        frozen = _FROZEN.get(self)
        if frozen is not None:
            return frozen
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"), ensure_ascii=False)

    def freeze(self) -> Deck:
        """Write the JSON once and hand it out from then on: for a deck kept in a cache and drawn by
        every session (`st.pydeck_chart` calls `to_json` at each view: 10 to 60 ms for a large map).
        A frozen deck is read-only: a change made after `freeze` would not reach the browser."""
        _FROZEN[self] = json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"),
                                   ensure_ascii=False)
        return self


#: The JSON of frozen decks, beside them (not in the deck's attributes, which pydeck serialises).
_FROZEN: weakref.WeakKeyDictionary[Deck, str] = weakref.WeakKeyDictionary()



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
        box = f.get("bbox")
        if box is not None and len(box) == 4 and not any(math.isnan(b) for b in box):
            xs += (box[0], box[2])  # computed once by `dashboard.data.features`
            ys += (box[1], box[3])
        elif f.get("geometry"):
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


# -- France: metropolitan France fills the frame, the DROM in insets ---------------------------------------
#: A feature whose box centre lies in this box (lon, lat) is metropolitan (Corsica included).
METROPOLE_BOX = (-5.8, 41.0, 10.0, 51.6)
#: The DROM by the centre of their box, in the order of their insets.
DROM_CENTRES = {
    "Guadeloupe": (-61.5, 16.2),
    "Martinique": (-61.0, 14.65),
    "Guyane": (-53.1, 4.0),
    "La Réunion": (55.5, -21.1),
    "Mayotte": (45.15, -12.8),
}
#: Where the insets go: the empty corner south-west of the Landes coast and west of the Basque
#: coast (no basemap: nothing lies under them), inside metropolitan France's frame, so that
#: France keeps the whole map. Two columns of 1.5° of longitude, cells square on the screen.
INSET_COLUMNS = ((-5.1, -3.6), (-3.5, -2.0))
INSET_TOP = 46.0
INSET_GAP = 0.12
INSET_LINE = [120, 120, 120]
INSET_NOTE = "Outre-mer en encarts, chacun à sa propre échelle."


def _merc(lat: float) -> float:
    """Web Mercator y of a latitude, in degrees (what the map draws)."""
    return math.degrees(math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)))


def _unmerc(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(math.radians(y))) - math.pi / 2)


def inset_slots(n: int = len(DROM_CENTRES)) -> list[tuple[float, float, float, float]]:
    """The boxes (min lon, min lat, max lon, max lat) of `n` insets, row by row from the top."""
    slots = []
    top = _merc(INSET_TOP)
    width = INSET_COLUMNS[0][1] - INSET_COLUMNS[0][0]
    for i in range(n):
        x0, x1 = INSET_COLUMNS[i % 2]
        row = i // 2
        y1 = top - row * (width + INSET_GAP)
        slots.append((x0, _unmerc(y1 - width), x1, _unmerc(y1)))
    return slots


def is_metropolitan(box: tuple[float, float, float, float] | None) -> bool:
    if box is None:
        return False
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0, y0, x1, y1 = METROPOLE_BOX
    return x0 <= x <= x1 and y0 <= y <= y1


def _drom_of(box: tuple[float, float, float, float]) -> str | None:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    name, (cx, cy) = min(DROM_CENTRES.items(), key=lambda kv: (kv[1][0] - x) ** 2 + (kv[1][1] - y) ** 2)
    return name if abs(cx - x) < 10 and abs(cy - y) < 10 else None


def _move(coords: Any, fn) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        return list(fn(coords[0], coords[1]))
    return [_move(c, fn) for c in coords]


def _fit(box: tuple[float, float, float, float], slot: tuple[float, float, float, float]):
    """The map from a group's box to the middle of an inset, in Web Mercator (shapes kept)."""
    gx0, gy0, gx1, gy1 = box[0], _merc(box[1]), box[2], _merc(box[3])
    sx0, sy0, sx1, sy1 = slot[0], _merc(slot[1]), slot[2], _merc(slot[3])
    scale = 0.86 * min((sx1 - sx0) / max(gx1 - gx0, 1e-6), (sy1 - sy0) / max(gy1 - gy0, 1e-6))
    gcx, gcy, scx, scy = (gx0 + gx1) / 2, (gy0 + gy1) / 2, (sx0 + sx1) / 2, (sy0 + sy1) / 2 - 0.04 * (sy1 - sy0)

    def fn(x: float, y: float) -> tuple[float, float]:
        return scx + (x - gcx) * scale, _unmerc(scy + (_merc(y) - gcy) * scale)
    return fn


@dataclass(frozen=True)
class Framing:
    """Features as a map draws them, the view on them, and the insets (name, box) it holds."""

    features: list[dict]
    view: pdk.ViewState
    insets: list[tuple[str, tuple[float, float, float, float]]]
    #: DROM name -> the map of its coordinates into its inset
    moves: dict[str, Any] = field(default_factory=dict)

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """Where a point (a place, an arc's end) is drawn: in its DROM's inset, or where it is."""
        if not self.moves or lon is None or lat is None or is_metropolitan((lon, lat, lon, lat)):
            return lon, lat
        name = _drom_of((lon, lat, lon, lat))
        return self.moves[name](lon, lat) if name in self.moves else (lon, lat)

    def geometry(self, geometry: dict | None) -> dict | None:
        """A GeoJSON geometry with each of its points placed by `point` (a coverage area, a line)."""
        if geometry is None or not self.moves:
            return geometry
        return {**geometry, "coordinates": _move(geometry["coordinates"], self.point)}


def frame(features: list[dict]) -> Framing:
    """Frame metropolitan France when the features span it and overseas départements.

    Such a map (France's départements, EPCI or régions) would otherwise be zoomed out to the
    Indian Ocean, France a thumbnail in the middle of empty sea. Here the view is computed from
    the metropolitan features only, and each DROM's features are moved into an inset in the
    empty corner south-west of the Landes, at its own scale (codes and properties unchanged:
    tooltips and clicks still name the real territory). Features all overseas (a DROM's
    communes) or all metropolitan are framed as they are.
    """
    boxes = [bounds([f]) for f in features]
    metro = [f for f, b in zip(features, boxes, strict=True) if is_metropolitan(b)]
    groups: dict[str, list[tuple[int, dict]]] = {}
    for i, (f, b) in enumerate(zip(features, boxes, strict=True)):
        if b is not None and not is_metropolitan(b):
            name = _drom_of(b)
            if name:
                groups.setdefault(name, []).append((i, f))
    if not metro or not groups:
        return Framing(features, view_for(bounds(features)), [])
    out = list(features)
    insets = []
    moves = {}
    names = [n for n in DROM_CENTRES if n in groups]
    for name, slot in zip(names, inset_slots(len(names)), strict=True):
        members = groups[name]
        fn = moves[name] = _fit(bounds([f for _, f in members]), slot)
        for i, f in members:
            geometry = dict(f["geometry"])
            geometry["coordinates"] = _move(geometry["coordinates"], fn)
            # moved: its stored `bbox` no longer holds (dropped, so that `bounds` walks the new points)
            out[i] = {**{k: v for k, v in f.items() if k != "bbox"}, "geometry": geometry}
        insets.append((name, slot))
    return Framing(out, view_for(bounds(metro)), insets, moves)


def inset_layers(insets: list[tuple[str, tuple[float, float, float, float]]]) -> list[pdk.Layer]:
    """A grey box and the name of each inset (the characters of the names given to deck.gl's text atlas)."""
    if not insets:
        return []
    paths = [{"path": [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], "nom": name}
             for name, (x0, y0, x1, y1) in insets]
    labels = [{"position": [x0 + 0.05, y1 - 0.05], "nom": name} for name, (x0, y0, x1, y1) in insets]
    chars = sorted(set("".join(name for name, _ in insets)))
    return [
        pdk.Layer("PathLayer", id="encarts", data=paths, get_path="path", get_color=INSET_LINE, get_width=1,
                  width_min_pixels=1, width_max_pixels=1, pickable=False),
        pdk.Layer("TextLayer", id="encarts_noms", data=labels, get_position="position", get_text="nom", get_size=11,
                  get_color=[60, 60, 60], get_text_anchor=String("start"), get_alignment_baseline=String("top"),
                  character_set=chars, pickable=False),
    ]


def has_insets(deck: Any) -> bool:
    """Whether a deck built here draws DROM insets (its caption then says so): read from its layers,
    not by framing the features a second time."""
    return any(getattr(layer, "id", None) == "encarts" for layer in getattr(deck, "layers", []) or [])


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
    framing = frame(features)
    breaks = quantile_breaks(values.get(f["properties"]["code"]) for f in features)
    highlight = set(highlight)
    out = []
    for f in framing.features:
        code = f["properties"]["code"]
        v = values.get(code)
        missing = (fills.get(code) is None) if fills is not None else fmt.is_missing(v)
        props = {
            "code": code,
            "nom": str(names.get(code, code)),
            "valeur": fmt.with_unit(v, unit, decimals),
            "extra": str((extra_tooltip or {}).get(code, "")),
            "fill": (_rgb(fills.get(code)) if fills is not None else colour_for(v, breaks)) + [200],
            "line": HIGHLIGHT if code in highlight else (NO_DATA_LINE if missing else [255, 255, 255]),
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
    return Deck(layers=[layer, *inset_layers(framing.insets)], initial_view_state=framing.view, tooltip=tooltip,
                **basemap())


def legend(values: dict[str, float | None], unit: str, decimals: int = 1, *, codes: Iterable[str] | None = None,
           missing_label: str = fmt.NO_DATA) -> list[tuple[str, str]]:
    """(hex colour, French label) per class, for a legend under the map.

    The territories drawn without a value (`None` in `values`, or among `codes` but absent from
    `values`) get their own entry, `missing_label` ("pas de donnée", "non couvert"), in the blank
    of `NO_DATA_COLOUR`: never confused with the lowest class.
    """
    drawn = set(codes) if codes is not None else set(values)
    breaks = quantile_breaks(values.values())
    edges = [None, *breaks, None]
    items = []
    if not any(not fmt.is_missing(v) for v in values.values()):
        edges = []  # nothing to class: the blank entry only
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
    if any(fmt.is_missing(values.get(c)) for c in drawn):
        items.append((hex_colour(NO_DATA_COLOUR), missing_label))
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
