"""Cached loaders of the marts: the only way pages read data.

Large read-only frames are loaded once per data version (`st.cache_resource`); small
per-territory results are cached per call (`st.cache_data` with a bound). The folder is
`etl.config.data_dir()` (env `OBSERVATOIRE_DATA`, default `data/`).

Every loader keys on `version()`, the folder resolved through symbolic links plus the stamp of its
manifest: a deployment that swaps a `current -> data-<date>` link, or an ETL run that rewrites the
manifest, is served by the next run of each session, without a restart (docs/deployer.md). Frames
are shared by all sessions: read-only, never modified in place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from etl.config import data_dir
from etl.store import MANIFEST_NAME, read_manifest

#: Versions kept in the caches: the one served and the previous one (runs that started on it).
VERSIONS_KEPT = 2

GEO_FILES = {
    "commune": "communes",
    "arrondissement": "arrondissements",
    "epci": "epci",
    "departement": "departements",
    "region": "regions",
}


def version() -> str:
    """The data version served now: the resolved folder and its manifest's inode and mtime.

    Cheap on purpose (one `realpath`, one `stat`): it is checked at every loader call.
    """
    folder = os.path.realpath(data_dir())
    try:
        st_ = os.stat(os.path.join(folder, MANIFEST_NAME))
        stamp = f"{st_.st_ino}-{st_.st_mtime_ns}"
    except OSError:
        stamp = "sans-manifeste"
    return f"{folder}#{stamp}"


def folder(v: str | None = None) -> Path:
    """The resolved data folder of a version (default: the one served now)."""
    return Path((v or version()).rsplit("#", 1)[0])


def territoires() -> pl.DataFrame:
    return _territoires(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _territoires(v: str) -> pl.DataFrame:
    return pl.read_parquet(folder(v) / "territoires.parquet")


def codes_postaux() -> pl.DataFrame:
    return _codes_postaux(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _codes_postaux(v: str) -> pl.DataFrame:
    return pl.read_parquet(folder(v) / "codes_postaux.parquet")


def indicateurs() -> pl.DataFrame:
    """Every domain's rows of the long `indicateurs` table, as one frame."""
    return _indicateurs(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _indicateurs(v: str) -> pl.DataFrame:
    files = sorted((folder(v) / "indicateurs").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={"niveau": pl.String, "code": pl.String, "indicateur": pl.String,
                                    "periode": pl.String, "valeur": pl.Float64, "nature": pl.String,
                                    "source": pl.String})
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def catalogue() -> pl.DataFrame:
    return _catalogue(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _catalogue(v: str) -> pl.DataFrame:
    return pl.read_parquet(folder(v) / "catalogue.parquet")


def manifest() -> dict[str, Any]:
    """The manifest; `st.cache_data` hands each caller its own copy (a dict is mutable)."""
    return _manifest(version())


@st.cache_data(show_spinner=False, max_entries=VERSIONS_KEPT)
def _manifest(v: str) -> dict[str, Any]:
    return read_manifest(folder(v))


def table(relative: str) -> pl.DataFrame:
    """A per-domain detail table (for example `covoiturage/mensuel.parquet`), cached once per version."""
    return _table(version(), relative)


@st.cache_resource(show_spinner=False, max_entries=64 * VERSIONS_KEPT)
def _table(v: str, relative: str) -> pl.DataFrame:
    return pl.read_parquet(folder(v) / relative)


def indexed_table(relative: str) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """A table sorted by territory (`niveau`, `code`) and, per territory, its (first row, row count).

    Built once per data version: a page then takes one territory's rows as a zero-copy slice,
    not a filter over the whole table (`comparables.parquet`: 362,000 rows).
    """
    return _indexed_table(version(), relative)


@st.cache_resource(show_spinner=False, max_entries=8 * VERSIONS_KEPT)
def _indexed_table(v: str, relative: str) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    return by_territory(_table(v, relative))


def by_territory(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[tuple[str, str], tuple[int, int]]]:
    """`table` sorted by (`niveau`, `code`) (stable) and each territory's (first row, row count)."""
    table = table.sort("niveau", "code", maintain_order=True)
    spans = table.with_row_index("_debut").group_by("niveau", "code", maintain_order=True).agg(
        pl.col("_debut").first(), pl.len().alias("_lignes"))
    return table, {(n, c): (int(i), int(k)) for n, c, i, k in spans.iter_rows()}


@st.cache_resource(show_spinner=False, max_entries=len(GEO_FILES) * VERSIONS_KEPT)
def _geo(v: str, niveau: str) -> pl.DataFrame:
    return pl.read_parquet(folder(v) / f"geo/{GEO_FILES[niveau]}.parquet")


def features(niveau: str, codes: tuple[str, ...] | None = None, *, departement: str | None = None,
             epci: str | None = None, commune: str | None = None) -> list[dict[str, Any]]:
    """GeoJSON features of one level, limited to some codes or to one parent.

    Commune polygons are only ever sent for one département, one EPCI or a list of codes,
    never for all of France.
    """
    return _features(version(), niveau, codes, departement=departement, epci=epci, commune=commune)


@st.cache_data(show_spinner=False, max_entries=64)
def _features(v: str, niveau: str, codes: tuple[str, ...] | None, *, departement: str | None,
              epci: str | None, commune: str | None) -> list[dict[str, Any]]:
    df = _geo(v, niveau)
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
