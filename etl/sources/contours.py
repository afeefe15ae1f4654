"""Polygons of communes (and arrondissements municipaux), EPCI, départements and régions.

Etalab's "contours administratifs" (IGN Admin Express, simplified, WGS84). The parser keeps
each feature's code, name and geometry (as WKB, read with shapely's vectorised functions);
areas, centres and map simplification are computed in the `territoires` mart.

The live files carry **no `type` property** (confirmed in the publisher's build code,
`etalab/contours-administratifs`, and in the mirror corrected on 2026-11-30): the communes file
holds communes and arrondissements municipaux together, an arrondissement being the feature
that names its parent commune in `commune`. The parser turns that into `niveau` ("commune" or
"arrondissement") and `code_commune` (the arrondissement's city); `commune_polygons` and
`arrondissement_polygons` give the two sets to the marts that place points in them.

Where the files are read: the publisher builds them once a year and now deploys them to its
object storage (`deploy_to_s3.sh` of `datagouv/contours-administratifs`, March 2026: bucket
`contours-administratifs`, path `2026/geojson/`, public at
`contours-administratifs.s3.rbx.io.cloud.ovh.net`) as well as to its historical host
`etalab-datasets.geo.data.gouv.fr/contours-administratifs/<year>/geojson/`. Both are the
publisher's; the object storage comes first (it is where the 2026 build is deployed), the
historical host is the fallback. The path names the year (2026), not `latest`: the polygons
then stay in the geography of the COG 2026 that geo.api.gouv.fr serves, until the year is
changed here on purpose.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import polars as pl
import shapely

from etl.formats import GeoJsonFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError

YEAR = "2026"
BASE = f"https://contours-administratifs.s3.rbx.io.cloud.ovh.net/{YEAR}/geojson"
FALLBACK = f"https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/{YEAR}/geojson"
LEVELS = {
    "communes": 30_000,
    "epci": 1_000,
    "departements": 90,
    "regions": 13,
}
#: Properties every feature of a level must carry (the parser fails naming the one absent).
REQUIRED = {
    "communes": ("code", "nom", "departement"),
    "epci": ("code", "nom"),
    "departements": ("code", "nom"),
    "regions": ("code", "nom"),
}
#: Property of the communes file that marks an arrondissement municipal (its city's code).
PARENT = "commune"
#: The other properties the publisher documents (README of `datagouv/contours-administratifs`).
KNOWN = {
    "communes": ("region", "epci", "plm", PARENT),
    "epci": (),
    "departements": ("region",),
    "regions": (),
}
FORMATS = {level: GeoJsonFormat(REQUIRED[level], known=KNOWN[level]) for level in LEVELS}
#: Paris, Lyon and Marseille have 45 arrondissements: fewer means the file changed shape.
MIN_ARRONDISSEMENTS = 40


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
    provenance = ("Fichiers de l'éditeur (Etalab / data.gouv.fr), édition 2026 : d'abord son stockage objet, où il "
                  "déploie désormais chaque édition, à défaut son serveur historique etalab-datasets.geo.data.gouv.fr.")
    formats = FORMATS
    resources_ = tuple(
        Resource(level, f"{BASE}/{level}-100m.geojson.gz", f"contours-administratifs/{level}-simplifie.geojson.gz",
                 fallbacks=(f"{FALLBACK}/{level}-100m.geojson.gz",))
        for level in LEVELS
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        tables: dict[str, pl.DataFrame] = {}
        rejected = Counter()
        rows = 0
        # the small levels first, and every check on the properties before the costly geometry
        # decoding: a file that changed shape fails in a second, not after the 35,000 communes
        for level, minimum in reversed(LEVELS.items()):
            what = f"{self.name}/{level}"
            features = read_geojson(files[level], what)
            rows += len(features)
            present = set().union(*((f.get("properties") or {}).keys() for f in features)) if features else set()
            missing = [p for p in FORMATS[level].required if p not in present]
            if missing:
                raise SourceError(f"{what}: propriété(s) absente(s) des entités : {', '.join(missing)}")
            codes, names, parents, geoms = [], [], [], []
            for f in features:
                props = f.get("properties") or {}
                geom = f.get("geometry")
                if not props.get("code") or not geom:
                    rejected[f"{level} : entité sans code ou sans géométrie"] += 1
                    continue
                codes.append(str(props["code"]))
                names.append(props.get("nom"))
                parents.append(props.get(PARENT))
                geoms.append(json.dumps(geom))
            if len(codes) < minimum:
                raise SourceError(f"{what}: {len(codes)} contours, moins que le minimum plausible ({minimum})")
            if level == "communes":
                n_arr = sum(p is not None for p in parents)
                if n_arr < MIN_ARRONDISSEMENTS:
                    raise SourceError(
                        f"{what}: propriété « {PARENT} » présente sur {n_arr} entités : les arrondissements "
                        f"municipaux ne sont plus reconnaissables (au moins {MIN_ARRONDISSEMENTS} attendus)"
                    )
            shapes = shapely.from_geojson(geoms, on_invalid="ignore")
            invalid = shapely.is_missing(shapes)
            if invalid.any():
                rejected[f"{level} : géométrie illisible"] += int(invalid.sum())
            df = pl.DataFrame(
                {"code": codes, "nom": names, "geometry": shapely.to_wkb(shapes)},
                schema={"code": pl.String, "nom": pl.String, "geometry": pl.Binary},
            )
            if level == "communes":
                df = df.with_columns(
                    code_commune=pl.Series(parents, dtype=pl.String),
                ).with_columns(
                    niveau=pl.when(pl.col("code_commune").is_null()).then(pl.lit("commune"))
                    .otherwise(pl.lit("arrondissement"))
                ).select("code", "nom", "niveau", "code_commune", "geometry")
            df = df.filter(pl.Series(~invalid))
            tables[level] = df.unique("code", keep="first").sort("code")
        tables = {level: tables[level] for level in LEVELS}
        tables["main"] = tables["communes"]
        return Parsed(tables, rows_read=rows, rejected=rejected)


def commune_polygons(communes: pl.DataFrame) -> pl.DataFrame:
    """The communes of the contours' communes table (arrondissements municipaux left out)."""
    return communes.filter(pl.col("niveau") == "commune")


def arrondissement_polygons(communes: pl.DataFrame) -> pl.DataFrame:
    """The arrondissements municipaux of Paris, Lyon and Marseille in the contours' communes table."""
    return communes.filter(pl.col("niveau") == "arrondissement")


SOURCE = Contours()
