"""Territories: finding one by name, code or postal code; its parents and its children.

Pure functions over the `territoires` and `codes_postaux` marts, so that tests and the brief
generator use exactly what the pages use.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from dataclasses import dataclass

import polars as pl

LEVEL_LABELS = {
    "france": "France",
    "region": "région",
    "departement": "département",
    "epci": "intercommunalité",
    "commune": "commune",
    "arrondissement": "arrondissement",
}
LEVEL_ORDER = ["france", "region", "departement", "epci", "commune", "arrondissement"]
FRANCE = ("france", "FR")

_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}


@dataclass(frozen=True)
class Territory:
    niveau: str
    code: str
    nom: str
    code_commune: str | None = None
    code_epci: str | None = None
    code_departement: str | None = None
    code_region: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.niveau, self.code)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.niveau]


def normalise(text: str) -> str:
    """Lower case, no accents, no hyphens or apostrophes, "st" -> "saint": "St-Étienne" -> "saint etienne"."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in text.split())


def resolve(territoires: pl.DataFrame, niveau: str | None, code: str | None) -> Territory | None:
    """The territory of that level and code, or None when there is none (bad link)."""
    if not niveau or not code or niveau not in LEVEL_LABELS:
        return None
    i = _row_index(territoires).get((niveau, str(code).strip().upper()))
    return None if i is None else _territory(territoires.row(i, named=True))


#: id(frame) -> {(niveau, code): row}: a view resolves its territory and its parents (up to six
#: lookups), each a filter over the 36,000 territories otherwise. The pages share one cached frame
#: per data version, so the index is built once per version; it is dropped with its frame (a
#: frame is not hashable: keyed by id, removed by a finalizer before the id can be reused).
_ROW_INDEX: dict[int, dict[tuple[str, str], int]] = {}
_ROW_INDEX_LOCK = threading.Lock()


def _row_index(territoires: pl.DataFrame) -> dict[tuple[str, str], int]:
    key = id(territoires)
    with _ROW_INDEX_LOCK:
        index = _ROW_INDEX.get(key)
    if index is None:
        index = {}
        for i, k in enumerate(zip(territoires["niveau"].to_list(), territoires["code"].to_list(), strict=True)):
            index.setdefault(k, i)  # the first row, as the filter took
        with _ROW_INDEX_LOCK:
            if key not in _ROW_INDEX:
                _ROW_INDEX[key] = index
                weakref.finalize(territoires, _ROW_INDEX.pop, key, None)
    return index


#: (id(frame), niveau) -> {code: nom}, as `_ROW_INDEX`: built once per shared frame and level.
_NAMES: dict[tuple[int, str], dict[str, str]] = {}


def names_of(territoires: pl.DataFrame, niveau: str) -> dict[str, str]:
    """code -> nom of one level, as `dict(<the level's rows>.select("code", "nom").iter_rows())` (codes are
    unique per level). Built once per frame and level: a page built the communes' (35,000) per view. Read-only."""
    key = (id(territoires), niveau)
    with _ROW_INDEX_LOCK:
        names = _NAMES.get(key)
    if names is None:
        names = dict(territoires.filter(pl.col("niveau") == niveau).select("code", "nom").iter_rows())
        with _ROW_INDEX_LOCK:
            if key not in _NAMES:
                _NAMES[key] = names
                weakref.finalize(territoires, _NAMES.pop, key, None)
    return names


def rows_of(territoires: pl.DataFrame, keys: list[tuple[str, str]]) -> pl.DataFrame:
    """The rows of `territoires` of some (niveau, code), in the order of `keys` (unknown keys skipped).

    A gather through the row index: the join over the 36,000 territories it replaces cost a few
    ms per call, several calls per view.
    """
    index = _row_index(territoires)
    picks = [i for i in (index.get(k) for k in keys) if i is not None]
    return territoires[picks] if picks else territoires.head(0)


def _territory(row: dict) -> Territory:
    return Territory(
        niveau=row["niveau"], code=row["code"], nom=row["nom"], code_commune=row.get("code_commune"),
        code_epci=row.get("code_epci"), code_departement=row.get("code_departement"),
        code_region=row.get("code_region"),
    )


def parents(territoires: pl.DataFrame, t: Territory) -> list[Territory]:
    """From the nearest parent up to France: commune -> EPCI -> département -> région -> France."""
    keys = []
    if t.niveau == "arrondissement":
        keys.append(("commune", t.code_commune))
    if t.niveau in ("arrondissement", "commune"):
        keys.append(("epci", t.code_epci))
    if t.niveau in ("arrondissement", "commune", "epci"):
        keys.append(("departement", t.code_departement))
    if t.niveau in ("arrondissement", "commune", "epci", "departement"):
        keys.append(("region", t.code_region))
    if t.niveau != "france":
        keys.append(FRANCE)
    found = [resolve(territoires, n, c) for n, c in keys if c]
    return [p for p in found if p is not None]


def children(territoires: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """The sub-territories shown on the map and in the lists of a territory."""
    col = pl.col
    if t.niveau == "france":
        return territoires.filter(col("niveau") == "departement")
    if t.niveau == "region":
        return territoires.filter((col("niveau") == "departement") & (col("code_region") == t.code))
    if t.niveau == "departement":
        return territoires.filter((col("niveau") == "commune") & (col("code_departement") == t.code))
    if t.niveau == "epci":
        return territoires.filter((col("niveau") == "commune") & (col("code_epci") == t.code))
    if t.niveau == "commune":
        arr = territoires.filter((col("niveau") == "arrondissement") & (col("code_commune") == t.code))
        return arr
    return territoires.head(0)


def neighbourhood(territoires: pl.DataFrame, t: Territory) -> pl.DataFrame:
    """What the map of a territory shows: its children, or a commune among its EPCI's communes."""
    col = pl.col
    if t.niveau == "commune":
        if t.code_epci:
            return territoires.filter((col("niveau") == "commune") & (col("code_epci") == t.code_epci))
        return territoires.filter((col("niveau") == "commune") & (col("code") == t.code))
    if t.niveau == "arrondissement":
        return territoires.filter((col("niveau") == "arrondissement") & (col("code_commune") == t.code_commune))
    return children(territoires, t)


def label(row: dict, departements: dict[str, str] | None = None) -> str:
    """"Saint-Martin-de-Ré (commune, 17 Charente-Maritime)": the département tells homonyms apart."""
    niveau = row["niveau"]
    if niveau == "france":
        return "France"
    where = LEVEL_LABELS[niveau]
    dep = row.get("code_departement")
    if niveau in ("commune", "arrondissement", "epci") and dep:
        dep_name = (departements or {}).get(dep, "")
        where += f", {dep} {dep_name}".rstrip()
    elif niveau in ("departement", "region"):
        where += f" {row['code']}"
    return f"{row['nom']} ({where})"


def search(territoires: pl.DataFrame, postal: pl.DataFrame, query: str, limit: int = 25) -> pl.DataFrame:
    """Territories matching a name, an INSEE code, a postal code or an EPCI SIREN, best first.

    Names are compared without case, accents, hyphens or apostrophes, and "st" stands for
    "saint": "st etienne" finds Saint-Étienne. Among equal matches, the most populated comes
    first. Returns the matching rows of `territoires` plus a `libelle` column.
    """
    q = (query or "").strip()
    if not q:
        return territoires.head(0).with_columns(libelle=pl.lit(""))
    departements = dict(territoires.filter(pl.col("niveau") == "departement").select("code", "nom").iter_rows())
    compact = q.replace(" ", "").upper()
    if re.fullmatch(r"\d{9}", compact):  # EPCI SIREN
        hits = territoires.filter((pl.col("niveau") == "epci") & (pl.col("code") == compact)).with_columns(_rank=pl.lit(0))
    elif re.fullmatch(r"\d{5}|2[AB]\d{3}", compact):  # INSEE code or postal code
        by_code = territoires.filter(pl.col("niveau").is_in(["commune", "arrondissement"]) & (pl.col("code") == compact))
        by_postal = postal.filter(pl.col("code_postal") == compact).select("niveau", "code")
        # "69001" is both Affoux's INSEE code and Lyon 1er's postal code: communes first, the
        # most populated first, then arrondissements; the label says which code matched
        hits = pl.concat([
            by_code.with_columns(_motif=pl.lit(f"code Insee {compact}")),
            territoires.join(by_postal, on=["niveau", "code"]).with_columns(_motif=pl.lit(f"code postal {compact}")),
        ]).unique(["niveau", "code"], keep="first").with_columns(
            _rank=pl.when(pl.col("niveau") == "commune").then(0).otherwise(1))
    elif re.fullmatch(r"\d{2,3}|2[AB]", compact):  # département or région code
        hits = territoires.filter(pl.col("niveau").is_in(["departement", "region"]) & (pl.col("code") == compact)
                                  ).with_columns(_rank=pl.when(pl.col("niveau") == "departement").then(0).otherwise(1))
    else:
        hits = _by_name(territoires, normalise(q))
    if hits.height == 0:
        return territoires.head(0).with_columns(libelle=pl.lit(""))
    hits = hits.sort(["_rank", "population"], descending=[False, True], nulls_last=True).head(limit)
    labels = [
        label(r, departements) + (f" · {r['_motif']}" if r.get("_motif") else "") for r in hits.iter_rows(named=True)
    ]
    return hits.drop("_rank", "_motif", strict=False).with_columns(libelle=pl.Series(labels, dtype=pl.String))


def with_search_names(territoires: pl.DataFrame) -> pl.DataFrame:
    """Add the normalised name used by `search` (compute once, then cache the result)."""
    if "nom_normalise" in territoires.columns:
        return territoires
    return territoires.with_columns(
        nom_normalise=pl.Series([normalise(x) for x in territoires["nom"].to_list()], dtype=pl.String)
    )


def _by_name(territoires: pl.DataFrame, q: str) -> pl.DataFrame:
    if not q:
        return territoires.head(0).with_columns(_rank=pl.lit(0))
    names = with_search_names(territoires)
    # every word of the query must start a word of the name ("st et" finds Saint-Étienne)
    cond = pl.lit(True)
    for w in q.split():
        cond = cond & pl.col("nom_normalise").str.contains(rf"(^| ){re.escape(w)}")
    return names.filter(cond).with_columns(
        _rank=pl.when(pl.col("nom_normalise") == q).then(0)
        .when(pl.col("nom_normalise").str.starts_with(q)).then(1)
        .otherwise(2)
    ).drop("nom_normalise")
