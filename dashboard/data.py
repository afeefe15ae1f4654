"""Cached loaders of the marts: the only way pages read data.

Large read-only frames are loaded once per server process (`st.cache_resource`); small
per-territory results are cached per call (`st.cache_data` with a bound). The folder is
`etl.config.data_dir()` (env `OBSERVATOIRE_DATA`, default `data/`).

A mart that cannot be read (absent, truncated, not a Parquet file, a column missing) raises
`DataUnavailable`: its message, in French, names the dataset and says that the administrator
must rebuild the data; the entry script shows it in place of the page. The path on the server
and the reader's error go to the server's log only. Failures are not cached: the page comes
back by itself once the data is rebuilt.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from etl.config import data_dir
from etl.store import MANIFEST_NAME, read_manifest

LOG = logging.getLogger(__name__)

#: What pages rely on in every file of the long table (the data contract).
INDICATEUR_COLUMNS = ("niveau", "code", "indicateur", "periode", "valeur", "nature", "source")
#: Names of the files that no mart's manifest entry lists.
LABELS = {"catalogue.parquet": "catalogue des indicateurs", MANIFEST_NAME: "liste des sources et des dates",
          "indicateurs": "indicateurs"}
REBUILD = ("L'administrateur du site doit reconstruire les données : voir la section « Rafraîchir les données » "
           "du README du projet.")


class DataUnavailable(RuntimeError):
    """A dataset the server cannot read; the message (French) names it and says how it gets fixed."""

    def __init__(self, relative: str):
        self.relative = relative
        super().__init__(f"Les données « {dataset_label(relative)} » sont absentes ou illisibles sur le serveur : "
                         f"cette page ne peut pas s'afficher. {REBUILD}")


def dataset_label(relative: str) -> str:
    """« Aires de covoiturage (indicateurs/aires_covoiturage.parquet) »: the mart's title from the manifest."""
    title = LABELS.get(relative)
    if title is None:
        try:
            marts = read_manifest(data_dir()).get("marts", {})
            title = next((m.get("titre") for m in marts.values() if relative in m.get("fichiers", {})), None)
        except Exception:  # the manifest may be damaged too: the file's name still says which data
            title = None
    return f"{title} ({relative})" if title and title != relative else relative


def _path(relative: str) -> Path:
    return data_dir() / relative


def _read(relative: str, columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """Read one mart file, or raise `DataUnavailable` naming it (the error and path go to the log)."""
    path = _path(relative)
    try:
        df = pl.read_parquet(path)
    except Exception as exc:
        LOG.error("mart illisible : %s (%s: %s)", path, type(exc).__name__, exc)
        raise DataUnavailable(relative) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        LOG.error("mart incomplet : %s (colonnes absentes : %s)", path, ", ".join(missing))
        raise DataUnavailable(relative)
    return df

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
    return _read("territoires.parquet", ("niveau", "code", "nom"))


@st.cache_resource(show_spinner=False)
def codes_postaux() -> pl.DataFrame:
    return _read("codes_postaux.parquet")


@st.cache_resource(show_spinner=False)
def indicateurs() -> pl.DataFrame:
    """Every domain's rows of the long `indicateurs` table, as one frame."""
    files = sorted(_path("indicateurs").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={"niveau": pl.String, "code": pl.String, "indicateur": pl.String,
                                    "periode": pl.String, "valeur": pl.Float64, "nature": pl.String,
                                    "source": pl.String})
    frames = [_read(f"indicateurs/{f.name}", INDICATEUR_COLUMNS).select(INDICATEUR_COLUMNS) for f in files]
    try:
        return pl.concat(frames, how="vertical_relaxed")
    except Exception as exc:  # types that do not line up between two files
        LOG.error("indicateurs : fichiers incompatibles (%s: %s)", type(exc).__name__, exc)
        raise DataUnavailable("indicateurs") from exc


@st.cache_resource(show_spinner=False)
def catalogue() -> pl.DataFrame:
    return _read("catalogue.parquet", ("indicateur", "libelle"))


@st.cache_resource(show_spinner=False)
def manifest() -> dict[str, Any]:
    try:
        return read_manifest(data_dir())
    except Exception as exc:
        LOG.error("manifeste illisible : %s", exc)
        raise DataUnavailable(MANIFEST_NAME) from exc


def table(relative: str) -> pl.DataFrame:
    """A per-domain detail table (for example `covoiturage/mensuel.parquet`), cached once."""
    return _table(relative)


@st.cache_resource(show_spinner=False)
def _table(relative: str) -> pl.DataFrame:
    return _read(relative)


@st.cache_resource(show_spinner=False)
def _geo(niveau: str) -> pl.DataFrame:
    return _read(f"geo/{GEO_FILES[niveau]}.parquet", ("code", "geometry"))


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
