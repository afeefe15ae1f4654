"""Cached loaders of the marts: the only way pages read data.

Large read-only frames are loaded once per data version (`st.cache_resource`); small
per-territory results are cached per call (`st.cache_data` with a bound). The folder is
`etl.config.data_dir()` (env `OBSERVATOIRE_DATA`, default `data/`).

Every loader keys on `version()`, the folder resolved through symbolic links plus the stamp of its
manifest: a deployment that swaps a `current -> data-<date>` link, or an ETL run that rewrites the
manifest, is served by the next run of each session, without a restart (docs/deployer.md). Frames
are shared by all sessions: read-only, never modified in place.

A mart that cannot be read (absent, truncated, not a Parquet file, a column missing) raises
`DataUnavailable`: its message, in French, names the dataset and says that the administrator
must rebuild the data; `dashboard.guard.french_errors` shows it in place of the page. The path
on the server and the reader's error go to the server's log only. Failures are not cached: the
page comes back by itself once the data is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import shapely
import streamlit as st

from dashboard.guard import Explained
from etl.config import data_dir
from etl.store import MANIFEST_NAME, read_manifest

LOG = logging.getLogger(__name__)

#: Versions kept in the caches: the one served and the previous one (runs that started on it).
VERSIONS_KEPT = 2

GEO_FILES = {
    "commune": "communes",
    "arrondissement": "arrondissements",
    "epci": "epci",
    "departement": "departements",
    "region": "regions",
}


#: What pages rely on in every file of the long table (the data contract).
INDICATEUR_COLUMNS = ("niveau", "code", "indicateur", "periode", "valeur", "nature", "source")
#: Names of the files that no mart's manifest entry lists.
LABELS = {"catalogue.parquet": "catalogue des indicateurs", MANIFEST_NAME: "liste des sources et des dates",
          "indicateurs": "indicateurs"}
REBUILD = ("L'administrateur du site doit reconstruire les données : voir la section « Rafraîchir les données » "
           "du README du projet.")


class DataUnavailable(Explained):
    """A dataset the server cannot read; the message (French) names it and says how it gets fixed."""

    def __init__(self, relative: str, data_folder: Path | None = None):
        self.relative = relative
        super().__init__(f"Les données « {dataset_label(relative, data_folder)} » sont absentes ou illisibles sur "
                         f"le serveur : cette page ne peut pas s'afficher. {REBUILD}")


class DataMissing(DataUnavailable, FileNotFoundError):
    """An absent mart: pages that expect a domain may be unbuilt catch it as `FileNotFoundError` and say
    since when it is missing (`dashboard.freshness`); elsewhere it is a `DataUnavailable`."""


def dataset_label(relative: str, data_folder: Path | None = None) -> str:
    """« Aires de covoiturage (indicateurs/aires_covoiturage.parquet) »: the mart's title from the manifest."""
    title = LABELS.get(relative)
    if title is None:
        try:
            marts = read_manifest(data_folder or data_dir()).get("marts", {})
            title = next((m.get("titre") for m in marts.values() if relative in m.get("fichiers", {})), None)
        except Exception:  # the manifest may be damaged too: the file's name still says which data
            title = None
    return f"{title} ({relative})" if title and title != relative else relative


def _read(data_folder: Path, relative: str, columns: tuple[str, ...] = ()) -> pl.DataFrame:
    """Read one mart file, or raise `DataUnavailable` naming it (the error and path go to the log)."""
    path = data_folder / relative
    if not path.is_file():
        LOG.error("mart absent : %s", path)
        raise DataMissing(relative, data_folder)
    try:
        df = pl.read_parquet(path)
    except Exception as exc:
        LOG.error("mart illisible : %s (%s: %s)", path, type(exc).__name__, exc)
        raise DataUnavailable(relative, data_folder) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        LOG.error("mart incomplet : %s (colonnes absentes : %s)", path, ", ".join(missing))
        raise DataUnavailable(relative, data_folder)
    return df


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
    return _read(folder(v), "territoires.parquet", ("niveau", "code", "nom"))


def territory_names() -> dict[tuple[str, str], str]:
    """(niveau, code) -> nom of every territory, built once per version (a page used to build it per view:
    36,000 entries). Read-only: shared by every session."""
    return _territory_names(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _territory_names(v: str) -> dict[tuple[str, str], str]:
    return {(n, c): nom for n, c, nom in _territoires(v).select("niveau", "code", "nom").iter_rows()}


def codes_postaux() -> pl.DataFrame:
    return _codes_postaux(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _codes_postaux(v: str) -> pl.DataFrame:
    return _read(folder(v), "codes_postaux.parquet")


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
    frames = [_read(folder(v), f"indicateurs/{f.name}", INDICATEUR_COLUMNS).select(INDICATEUR_COLUMNS) for f in files]
    try:
        return pl.concat(frames, how="vertical_relaxed")
    except Exception as exc:  # types that do not line up between two files
        LOG.error("indicateurs : fichiers incompatibles (%s: %s)", type(exc).__name__, exc)
        raise DataUnavailable("indicateurs") from exc


def indicateurs_of(*prefixes: str) -> pl.DataFrame:
    """The rows of `indicateurs` whose indicator id starts with one of `prefixes` (`"str_"`: a domain's
    rows), cut once per data version: a page filtered the whole long table (880,000 rows) per view."""
    return _indicateurs_of(version(), prefixes)


@st.cache_resource(show_spinner=False, max_entries=8 * VERSIONS_KEPT)
def _indicateurs_of(v: str, prefixes: tuple[str, ...]) -> pl.DataFrame:
    return _indicateurs(v).filter(pl.any_horizontal(pl.col("indicateur").str.starts_with(p) for p in prefixes))


def catalogue() -> pl.DataFrame:
    return _catalogue(version())


@st.cache_resource(show_spinner=False, max_entries=VERSIONS_KEPT)
def _catalogue(v: str) -> pl.DataFrame:
    return _read(folder(v), "catalogue.parquet", ("indicateur", "libelle"))


def manifest(v: str | None = None) -> dict[str, Any]:
    """The manifest (of the version served now, or of `v`); `st.cache_data` hands each caller its own copy."""
    return _manifest(v or version())


@st.cache_data(show_spinner=False, max_entries=VERSIONS_KEPT)
def _manifest(v: str) -> dict[str, Any]:
    try:
        return read_manifest(folder(v))
    except Exception as exc:
        LOG.error("manifeste illisible : %s", exc)
        raise DataUnavailable(MANIFEST_NAME) from exc


def table(relative: str, v: str | None = None) -> pl.DataFrame:
    """A per-domain detail table (for example `covoiturage/mensuel.parquet`), cached once per version
    (of the version served now, or of `v`)."""
    return _table(v or version(), relative)


@st.cache_resource(show_spinner=False, max_entries=64 * VERSIONS_KEPT)
def _table(v: str, relative: str) -> pl.DataFrame:
    return _read(folder(v), relative)


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
    return _read(folder(v), f"geo/{GEO_FILES[niveau]}.parquet", ("code", "geometry"))


def features(niveau: str, codes: tuple[str, ...] | None = None, *, departement: str | None = None,
             epci: str | None = None, commune: str | None = None) -> list[dict[str, Any]]:
    """GeoJSON features of one level, limited to some codes or to one parent.

    Commune polygons are only ever sent for one département, one EPCI or a list of codes,
    never for all of France.
    """
    return _features(version(), niveau, codes, departement=departement, epci=epci, commune=commune)


# `cache_resource`, not `cache_data`: a hit of `cache_data` unpickles the whole list of polygons
# (about 0.1 s for a département's communes), a hit here hands out the shared list. Read-only.
@st.cache_resource(show_spinner=False, max_entries=64)
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
    # each feature's bounding box (GeoJSON's own `bbox` member), computed here once per data
    # version: framing a map walked every vertex of every polygon at each view (about 0.15 s of
    # server CPU for a France map)
    boxes = shapely.bounds(shapely.from_geojson(df["geometry"].to_numpy())).tolist() if df.height else []
    return [
        {"type": "Feature", "bbox": box, "properties": {"code": code}, "geometry": json.loads(geometry)}
        for (code, geometry), box in zip(df.select("code", "geometry").iter_rows(), boxes, strict=True)
    ]


T = TypeVar("T")


def per_version(name: str, key: Hashable, build: Callable[[], T]) -> T:
    """`build()`, built once per data version, `name` and `key` (a territory, an indicator…), then shared by
    every session: a map's deck, a figure. The result is read-only; a deck (`dashboard.maps.Deck`) is frozen,
    its JSON written once. `key` must hold everything the result depends on, besides the data version.
    """
    return _per_version(version(), name, key, build)


@st.cache_resource(show_spinner=False, max_entries=48)
def _per_version(v: str, name: str, key: Hashable, _build: Callable[[], Any]) -> Any:
    value = _build()
    freeze = getattr(value, "freeze", None)
    return freeze() if callable(freeze) else value
