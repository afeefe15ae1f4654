"""Cached loaders of the marts: the only way pages read data.

Large read-only frames are loaded once per server process (`st.cache_resource`); small
per-territory results are cached per call (`st.cache_data` with a bound). The folder is
`etl.config.data_dir()` (env `OBSERVATOIRE_DATA`, default `data/`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from etl.config import data_dir
from etl.store import read_manifest

GEO_FILES = {
    "commune": "communes",
    "arrondissement": "arrondissements",
    "epci": "epci",
    "departement": "departements",
    "region": "regions",
}


def _path(relative: str) -> Path:
    return data_dir() / relative


@st.cache_resource(show_spinner=False)
def territoires() -> pl.DataFrame:
    return pl.read_parquet(_path("territoires.parquet"))


@st.cache_resource(show_spinner=False)
def codes_postaux() -> pl.DataFrame:
    return pl.read_parquet(_path("codes_postaux.parquet"))


@st.cache_resource(show_spinner=False)
def indicateurs() -> pl.DataFrame:
    """Every domain's rows of the long `indicateurs` table, as one frame."""
    files = sorted(_path("indicateurs").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={"niveau": pl.String, "code": pl.String, "indicateur": pl.String,
                                    "periode": pl.String, "valeur": pl.Float64, "nature": pl.String,
                                    "source": pl.String})
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


@st.cache_resource(show_spinner=False)
def catalogue() -> pl.DataFrame:
    return pl.read_parquet(_path("catalogue.parquet"))


@st.cache_resource(show_spinner=False)
def manifest() -> dict[str, Any]:
    return read_manifest(data_dir())


def table(relative: str) -> pl.DataFrame:
    """A per-domain detail table (for example `covoiturage/mensuel.parquet`), cached once."""
    return _table(relative)


@st.cache_resource(show_spinner=False)
def _table(relative: str) -> pl.DataFrame:
    return pl.read_parquet(_path(relative))


@st.cache_resource(show_spinner=False)
def _geo(niveau: str) -> pl.DataFrame:
    return pl.read_parquet(_path(f"geo/{GEO_FILES[niveau]}.parquet"))


@st.cache_data(show_spinner=False, max_entries=64)
def features(niveau: str, codes: tuple[str, ...] | None = None, *, departement: str | None = None,
             epci: str | None = None, commune: str | None = None) -> list[dict[str, Any]]:
    """GeoJSON features of one level, limited to some codes or to one parent.

    Commune polygons are only ever sent for one département, one EPCI or a list of codes,
    never for all of France.
    """
    df = _geo(niveau)
    if departement is not None:
        df = df.filter(pl.col("code_departement") == departement)
    if epci is not None:
        df = df.filter(pl.col("code_epci") == epci)
    if commune is not None:
        df = df.filter(pl.col("code_commune") == commune)
    if codes is not None:
        df = df.filter(pl.col("code").is_in(list(codes)))
    return [
        {"type": "Feature", "properties": {"code": code}, "geometry": json.loads(geometry)}
        for code, geometry in df.select("code", "geometry").iter_rows()
    ]
