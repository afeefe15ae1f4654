"""The common table of tiers-lieux that every list of places produces, whoever publishes it.

The ANCT base of 2019 (`etl/sources/tiers_lieux_anct.py`) is old; a newer national list can
be added later as another source module returning the same table, and the `tiers_lieux` mart
reads every source named in `TIERS_LIEUX_SOURCES` of that mart. The table carries no personal
data (no contact name, e-mail or phone): a source drops such columns when it parses its file.

Columns (one row per place):

| column | type | meaning |
|---|---|---|
| `identifiant` | text | unique across sources: `<source>-<id in the source>` |
| `source` | text | the source module's name |
| `millesime` | text | the vintage of the list ("2019"): shown wherever the places are used |
| `nom` | text | the place's name |
| `type` | text | `coworking` (coworking-led), `fablab` (fablab-led) or `inconnu` |
| `adresse` | text | street address as published (may be null) |
| `code_postal` | text | postal code as published (may be null) |
| `commune_adresse` | text | commune name written in the address (may be null) |
| `code_commune_declare` | text | commune code given by the source, in the source's geography (may be null) |
| `site_web` | text | an `http(s)://` address, or null (anything else is dropped) |
| `longitude`, `latitude` | float | WGS84 |

The mart then brings `code_commune_declare` to today's commune, checks it against the
coordinates and adds `code_commune`, `code_arrondissement` and how the commune was chosen.
"""

from __future__ import annotations

import re

import polars as pl

SCHEMA: dict[str, pl.DataType] = {
    "identifiant": pl.String,
    "source": pl.String,
    "millesime": pl.String,
    "nom": pl.String,
    "type": pl.String,
    "adresse": pl.String,
    "code_postal": pl.String,
    "commune_adresse": pl.String,
    "code_commune_declare": pl.String,
    "site_web": pl.String,
    "longitude": pl.Float64,
    "latitude": pl.Float64,
}

TYPES = ("coworking", "fablab", "inconnu")
TYPE_LABELS = {
    "coworking": "Tiers-lieu à dominante coworking",
    "fablab": "Tiers-lieu à dominante fablab",
    "inconnu": "Type non renseigné",
}

_HTTP_URL = re.compile(r"https?://[^\s|<>\"']+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)+(/[^\s<>\"']*)?$")


def web_address(value: str | None) -> str | None:
    """A published website as a safe `http(s)://` link, or None.

    The page renders it as a link, so only http(s) addresses pass: "www.example.fr" becomes
    "https://www.example.fr", an address inside text is taken out of it, and anything else
    ("en cours", a person's name typed in the wrong column, `javascript:`...) is dropped.
    """
    if value is None:
        return None
    text = value.strip()
    found = _HTTP_URL.search(text)
    if found:
        return found.group(0)
    if _BARE_DOMAIN.match(text):
        return "https://" + text
    return None


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Cast a source's table to the schema and check its invariants; raise on a breach."""
    missing = [c for c in SCHEMA if c not in df.columns]
    if missing:
        raise ValueError(f"colonnes manquantes dans la table des tiers-lieux : {missing}")
    extra = [c for c in df.columns if c not in SCHEMA]
    if extra:
        raise ValueError(f"colonnes hors schéma dans la table des tiers-lieux : {extra}")
    out = df.select([pl.col(c).cast(t) for c, t in SCHEMA.items()])
    bad_type = set(out["type"].unique().to_list()) - set(TYPES)
    if bad_type:
        raise ValueError(f"types de tiers-lieu inconnus : {sorted(map(str, bad_type))}")
    if out["identifiant"].is_duplicated().any():
        raise ValueError("identifiants de tiers-lieux en double")
    if out.select(pl.any_horizontal(pl.col("longitude", "latitude").is_null()).any()).item():
        raise ValueError("tiers-lieux sans coordonnées")
    return out.sort("identifiant")
