"""Polygons of communes (and arrondissements municipaux), EPCI, départements and régions.

Etalab's "contours administratifs" (IGN Admin Express, simplified, WGS84). The parser keeps
each feature's code, name, type and geometry (as WKB, read with shapely's vectorised
functions); areas, centres and map simplification are computed in the `territoires` mart.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import polars as pl
import shapely

from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError

BASE = "https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/latest/geojson"
LEVELS = {
    "communes": 30_000,
    "epci": 1_000,
    "departements": 90,
    "regions": 13,
}


def read_geojson(path: Path, source: str) -> list[dict]:
    """Features of a GeoJSON file, gzipped or not."""
    raw = Path(path).read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise SourceError(f"{source}: GeoJSON illisible ({type(exc).__name__}: {exc})") from exc
    if data.get("type") != "FeatureCollection":
        raise SourceError(f"{source}: FeatureCollection attendue")
    return data.get("features", [])


class Contours(Source):
    name = "contours"
    title = "Contours administratifs simplifiés (communes, arrondissements, EPCI, départements, régions)"
    publisher = "Etalab, d'après IGN Admin Express"
    homepage = "https://www.data.gouv.fr/fr/datasets/contours-administratifs/"
    licence = "Licence Ouverte 2.0"
    attribution = "Contours administratifs : Etalab d'après IGN Admin Express, Licence Ouverte 2.0"
    vintage = "géographie des communes au 1er janvier 2026"
    min_rows = 30_000
    resources_ = tuple(
        Resource(level, f"{BASE}/{level}-100m.geojson.gz", f"contours-administratifs/{level}-simplifie.geojson.gz")
        for level in LEVELS
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        tables: dict[str, pl.DataFrame] = {}
        rejected = Counter()
        rows = 0
        for level, minimum in LEVELS.items():
            features = read_geojson(files[level], f"{self.name}/{level}")
            rows += len(features)
            codes, names, types, geoms = [], [], [], []
            for f in features:
                props = f.get("properties") or {}
                geom = f.get("geometry")
                if not props.get("code") or not geom:
                    rejected[f"{level} : entité sans code ou sans géométrie"] += 1
                    continue
                codes.append(str(props["code"]))
                names.append(props.get("nom"))
                types.append(props.get("type"))
                geoms.append(json.dumps(geom))
            if len(codes) < minimum:
                raise SourceError(f"{self.name}/{level}: {len(codes)} contours, moins que le minimum plausible ({minimum})")
            shapes = shapely.from_geojson(geoms, on_invalid="ignore")
            invalid = shapely.is_missing(shapes)
            if invalid.any():
                rejected[f"{level} : géométrie illisible"] += int(invalid.sum())
            df = pl.DataFrame(
                {"code": codes, "nom": names, "type": types, "geometry": shapely.to_wkb(shapes)},
                schema={"code": pl.String, "nom": pl.String, "type": pl.String, "geometry": pl.Binary},
            ).filter(pl.Series(~invalid))
            tables[level] = df.unique("code", keep="first").sort("code")
        tables["main"] = tables["communes"]
        return Parsed(tables, rows_read=rows, rejected=rejected)


SOURCE = Contours()
