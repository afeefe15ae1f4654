"""The official list of territories, as served by geo.api.gouv.fr (COG 2026).

Five sources read the same JSON format: communes, arrondissements municipaux, EPCI,
départements and régions. Codes are kept as text with their leading zeros ("01001", "2A004",
"97101"); a record without a well-formed code or a name is rejected and counted, and a required
field absent from every record fails the source, naming the field.

The live API's shapes (confirmed in the publisher's code, `etalab/api-geo`, 2026): an
arrondissement municipal's city is `codeParent` (there is no `codeCommune`); `/communes` also
returns the overseas collectivités (zone `com`) unless `zone=metro,drom` is given; `/epcis`
serves the EPCI's `type` (CC, CA, CU, METRO, MET69) when `fields` asks for it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from etl.formats import JsonRecordsFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError

API = "https://geo.api.gouv.fr"
HOMEPAGE = "https://geo.api.gouv.fr/decoupage-administratif"
LICENCE = "Licence Ouverte 2.0"
ATTRIBUTION = "Découpage administratif : geo.api.gouv.fr (Etalab, d'après le COG de l'Insee), Licence Ouverte 2.0"
VINTAGE = "COG 2026, populations légales en vigueur en 2026"

CODE_PATTERNS = {
    "commune": r"^(\d{5}|2[AB]\d{3})$",
    "epci": r"^\d{9}$",
    "departement": r"^(\d{2}|2[AB]|\d{3})$",
    "region": r"^\d{2}$",
}


def _read_records(path: Path, source: str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{source}: JSON illisible ({exc})") from exc
    if not isinstance(data, list):
        raise SourceError(f"{source}: une liste d'objets était attendue")
    return data


class GeoApiSource(Source):
    publisher = "Etalab / Insee (geo.api.gouv.fr)"
    homepage = HOMEPAGE
    licence = LICENCE
    attribution = ATTRIBUTION
    vintage = VINTAGE
    #: field in the JSON -> (column, polars type)
    fields: dict[str, tuple[str, pl.DataType]]
    required: tuple[str, ...]
    code_pattern: str
    provenance = "API de l'éditeur (geo.api.gouv.fr), les champs demandés dans l'adresse."

    def format_of(self, key: str, options: dict[str, Any]) -> JsonRecordsFormat:
        """The fields asked for in the URL; those the parser needs are required."""
        return JsonRecordsFormat(self.required, known=tuple(self.fields))

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        records = _read_records(files["main"], self.name)
        present = set().union(*(r.keys() for r in records)) if records else set()
        missing = [f for f in self.format_of("main", ctx.options).required if f not in present]
        if missing:
            raise SourceError(f"{self.name}: champ(s) manquant(s) dans le JSON : {', '.join(missing)}")
        columns = {col: [r.get(field) for r in records] for field, (col, _) in self.fields.items()}
        df = pl.DataFrame(columns, schema={col: dtype for col, dtype in self.fields.values()}, strict=False)
        rejected = Counter()
        bad_code = ~pl.col("code").fill_null("").str.contains(self.code_pattern)
        no_name = pl.col("nom").fill_null("").str.strip_chars() == ""
        rejected["code absent ou mal formé"] = df.filter(bad_code).height
        rejected["nom absent"] = df.filter(~bad_code & no_name).height
        df = df.filter(~bad_code & ~no_name)
        dupes = df.filter(pl.col("code").is_duplicated())
        if dupes.height:
            rejected["code en double"] = dupes.height - dupes["code"].n_unique()
            df = df.unique("code", keep="first", maintain_order=True)
        return Parsed({"main": df.sort("code")}, rows_read=len(records), rejected=+rejected)


class Communes(GeoApiSource):
    name = "communes"
    title = "Communes (code, nom, codes postaux, EPCI, population)"
    min_rows = 30_000
    national_totals = {"population": ("main", "population")}  # the drop check
    resources_ = (
        Resource(
            "main",
            f"{API}/communes?fields=nom,code,codesPostaux,siren,codeEpci,codeDepartement,codeRegion,population"
            "&zone=metro,drom&format=json",
            "geo-api-gouv/communes.json",
        ),
    )
    fields = {
        "code": ("code", pl.String),
        "nom": ("nom", pl.String),
        "codesPostaux": ("codes_postaux", pl.List(pl.String)),
        "siren": ("siren", pl.String),
        "codeEpci": ("code_epci", pl.String),
        "codeDepartement": ("code_departement", pl.String),
        "codeRegion": ("code_region", pl.String),
        "population": ("population", pl.Int64),
    }
    required = ("code", "nom", "codeDepartement", "codeRegion", "population", "codesPostaux")
    code_pattern = CODE_PATTERNS["commune"]


class Arrondissements(GeoApiSource):
    name = "arrondissements"
    title = "Arrondissements municipaux de Paris, Lyon et Marseille"
    min_rows = 40
    resources_ = (
        Resource(
            "main",
            f"{API}/communes?type=arrondissement-municipal"
            "&fields=nom,code,codesPostaux,codeDepartement,codeRegion,population,codeParent&format=json",
            "geo-api-gouv/arrondissements-municipaux.json",
        ),
    )
    fields = {
        "code": ("code", pl.String),
        "nom": ("nom", pl.String),
        "codesPostaux": ("codes_postaux", pl.List(pl.String)),
        "codeParent": ("code_commune", pl.String),
        "codeDepartement": ("code_departement", pl.String),
        "codeRegion": ("code_region", pl.String),
        "population": ("population", pl.Int64),
    }
    required = ("code", "nom", "codeParent", "population")
    code_pattern = CODE_PATTERNS["commune"]


class Epci(GeoApiSource):
    name = "epci"
    title = "Établissements publics de coopération intercommunale à fiscalité propre"
    min_rows = 1_000
    resources_ = (
        Resource(
            "main",
            f"{API}/epcis?fields=nom,code,type,codesDepartements,codesRegions,population&format=json",
            "geo-api-gouv/epcis.json",
        ),
    )
    fields = {
        "code": ("code", pl.String),
        "nom": ("nom", pl.String),
        "type": ("type", pl.String),
        "codesDepartements": ("codes_departements", pl.List(pl.String)),
        "codesRegions": ("codes_regions", pl.List(pl.String)),
        "population": ("population", pl.Int64),
    }
    required = ("code", "nom", "type", "codesDepartements")
    code_pattern = CODE_PATTERNS["epci"]


class Departements(GeoApiSource):
    name = "departements"
    title = "Départements"
    min_rows = 90
    resources_ = (
        Resource("main", f"{API}/departements?fields=nom,code,codeRegion&format=json", "geo-api-gouv/departements.json"),
    )
    fields = {"code": ("code", pl.String), "nom": ("nom", pl.String), "codeRegion": ("code_region", pl.String)}
    required = ("code", "nom", "codeRegion")
    code_pattern = CODE_PATTERNS["departement"]


class Regions(GeoApiSource):
    name = "regions"
    title = "Régions"
    min_rows = 13
    resources_ = (Resource("main", f"{API}/regions?fields=nom,code&format=json", "geo-api-gouv/regions.json"),)
    fields = {"code": ("code", pl.String), "nom": ("nom", pl.String)}
    required = ("code", "nom")
    code_pattern = CODE_PATTERNS["region"]


SOURCES = [Communes(), Arrondissements(), Epci(), Departements(), Regions()]
