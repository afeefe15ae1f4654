"""Geometry helpers: equal-area surfaces, centres, map simplification, point in polygon.

All vectorised with shapely 2 (GEOS) and pyproj: no Python loop over polygons.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyproj
import shapely

#: Lambert azimuthal equal-area (ETRS89-LAEA). Being equal-area, it gives true surfaces
#: everywhere, overseas included (shapes are distorted far from Europe, areas are not).
EQUAL_AREA = "EPSG:3035"
_to_equal_area = pyproj.Transformer.from_crs("EPSG:4326", EQUAL_AREA, always_xy=True)


def from_wkb(values: pl.Series | list[bytes]) -> np.ndarray:
    return shapely.from_wkb(np.asarray(values.to_list() if isinstance(values, pl.Series) else values, dtype=object))


def area_km2(geoms: np.ndarray) -> np.ndarray:
    """Surface of lon/lat polygons in km², computed in an equal-area projection."""
    projected = shapely.transform(geoms, lambda xy: np.column_stack(_to_equal_area.transform(xy[:, 0], xy[:, 1])))
    return shapely.area(projected) / 1e6


def centres(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A centre point per polygon: its centroid, or a point inside it when the centroid falls outside."""
    centroid = shapely.centroid(geoms)
    inside = shapely.contains(geoms, centroid)
    point = np.where(inside, centroid, shapely.point_on_surface(geoms))
    return shapely.get_x(point), shapely.get_y(point)


def simplified_geojson(geoms: np.ndarray, tolerance: float, precision: float = 1e-4) -> list[str]:
    """GeoJSON geometry strings light enough for a browser (tolerance and grid in degrees)."""
    simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
    simple = shapely.set_precision(simple, precision)
    return list(shapely.to_geojson(simple))


class NothingPlaced(ValueError):
    """A point-in-polygon step that placed no point: a changed input, never an empty success."""


def locate_points(
    lon: np.ndarray, lat: np.ndarray, polygons: np.ndarray, codes: np.ndarray | list[str] | pl.Series,
    *, what: str = "points", require_some: bool = True,
) -> np.ndarray:
    """The code of the polygon containing each point (None outside every polygon).

    Uses a shapely STRtree: a bulk query of all points against the tree, not a loop over
    polygons. Where polygons overlap (simplified borders), the first match is kept.

    An empty set of polygons is always an error, and so is placing none of the points unless
    `require_some` is false (arrondissements: a set of points may hold none in Paris, Lyon or
    Marseille). Both mean the input changed shape (a filter on a property that vanished, say),
    which must stop the build rather than give a table of nulls. `what` names the points.
    """
    if len(polygons) == 0:
        raise NothingPlaced(f"{what} : aucun contour où placer les points (contours vides ou mal filtrés)")
    codes = np.asarray(codes, dtype=object)
    points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    tree = shapely.STRtree(polygons)
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    result = np.full(len(points), None, dtype=object)
    # keep the first polygon found for each point
    order = np.argsort(point_idx, kind="stable")
    point_idx, poly_idx = point_idx[order], poly_idx[order]
    first = np.ones(len(point_idx), dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    result[point_idx[first]] = codes[poly_idx[first]]
    if require_some and len(points) and not first.any():
        raise NothingPlaced(f"{what} : aucun des {len(points)} points n'est dans un contour")
    return result


def haversine_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (mean Earth radius 6,371 km)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


EARTH_RADIUS_KM = 6371.0


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(np.asarray(lon, dtype=float)), np.radians(np.asarray(lat, dtype=float))
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def nearest_km(
    lon: np.ndarray, lat: np.ndarray, target_lon: np.ndarray, target_lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Great-circle distance (km) from each point to the nearest target, and that target's index.

    A k-d tree over 3-D unit vectors (scipy `cKDTree`): the straight-line (chord) distance
    between unit vectors grows with the great-circle distance, so the nearest by chord is the
    nearest on the sphere, for all points at once instead of a points x targets double loop.
    Points with a missing coordinate get NaN and index -1.
    """
    from scipy.spatial import cKDTree

    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dist = np.full(lon.shape, np.nan)
    index = np.full(lon.shape, -1, dtype=np.int64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if len(target_lon) == 0 or not ok.any():
        return dist, index
    tree = cKDTree(_unit_vectors(target_lon, target_lat))
    chord, idx = tree.query(_unit_vectors(lon[ok], lat[ok]), k=1)
    dist[ok] = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2, 1.0))
    index[ok] = idx
    return dist, index
