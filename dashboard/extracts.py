"""Helpers of the pages "Données et téléchargements" and "Dictionnaire et sources".

The extract itself is made by `etl.export` (shared with `python -m etl export`); this module only
turns the marts into the choices a page offers (levels, parents, indicators, periods) and the
catalogue and manifest into readable tables. Pure functions over frames, plus one cached builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from dashboard import data, fmt
from dashboard.territory import Territory, normalise
from etl import export
from etl import periods as etl_periods

#: Levels offered by the extract builder, most detailed first.
LEVELS = ["commune", "arrondissement", "epci", "departement", "region", "france"]
#: Above this many cells, the page points to the command line instead of building the file.
PAGE_MAX_CELLS = 6_000_000
#: XLSX is written at about 170,000 cells a second (xlsxwriter): above 2 million cells (12 s of
#: waiting; every indicator of every commune of France is several times that), the page offers
#: CSV or Parquet, written in a second or two, or the command line.
PAGE_MAX_CELLS_XLSX = 2_000_000


def page_max_cells(fmt_id: str) -> int:
    """The largest extract (in cells) the page builds in this format."""
    return PAGE_MAX_CELLS_XLSX if fmt_id == "xlsx" else PAGE_MAX_CELLS


# -- territories --------------------------------------------------------------------------------

def default_level(t: Territory) -> str:
    """The level an analyst most likely wants from the selected territory: its children's."""
    return {"france": "departement", "region": "departement", "departement": "commune", "epci": "commune",
            "commune": "commune", "arrondissement": "arrondissement"}[t.niveau]


def parent_levels(niveau: str) -> list[str]:
    """Levels that can hold territories of `niveau` (France excluded: that is "all of France")."""
    return [lv for lv in ("region", "departement", "epci", "commune")
            if export.LEVEL_RANK[lv] < export.LEVEL_RANK[niveau]]


def parent_options(territoires: pl.DataFrame, parent_level: str) -> dict[str, str]:
    """code -> "Gironde (33)" for the territories of a parent level (communes: those with arrondissements)."""
    df = territoires.filter(pl.col("niveau") == parent_level)
    if parent_level == "commune":
        arr = territoires.filter(pl.col("niveau") == "arrondissement")["code_commune"].unique()
        df = df.filter(pl.col("code").is_in(arr.implode()))
    df = df.sort("code") if parent_level in ("departement", "region") else df.sort(fmt.sort_key_expr("nom"), "code")
    return {c: f"{n} ({c})" for c, n in df.select("code", "nom").iter_rows()}


def default_parent(t: Territory, parent_level: str) -> str | None:
    """The selected territory itself, or its ancestor of `parent_level`."""
    if t.niveau == parent_level:
        return t.code
    return {"region": t.code_region, "departement": t.code_departement, "epci": t.code_epci,
            "commune": t.code_commune}.get(parent_level)


def level_options(territoires: pl.DataFrame, niveau: str) -> dict[str, str]:
    """code -> "Nom (code)" for a level small enough for a pick list (not communes)."""
    df = territoires.filter(pl.col("niveau") == niveau).sort(fmt.sort_key_expr("nom"), "code")
    return {c: f"{n} ({c})" for c, n in df.select("code", "nom").iter_rows()}


# -- indicators and periods ---------------------------------------------------------------------

def availability(indicateurs: pl.DataFrame) -> pl.DataFrame:
    """Per level and indicator: the periods, natures and sources present in `indicateurs`."""
    return indicateurs.group_by("niveau", "indicateur").agg(
        periodes=pl.col("periode").unique().sort(),
        natures=pl.col("nature").unique().sort(),
        sources=pl.col("source").unique().sort(),
    )


def cached_availability() -> pl.DataFrame:
    """`availability` of the dashboard's indicator table, computed once per data version."""
    return _availability(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _availability(version: str) -> pl.DataFrame:
    return availability(data.indicateurs())


#: The catalogue's domains in French, in the menu's order: context, collaborative domains, platform
#: domains, then the composite indices built on all of them. A domain not listed here (a new mart)
#: is still served: it comes last, named from its id.
DOMAIN_LABELS = {
    "territoire": "Territoire",
    "covoiturage": "Covoiturage",
    "tiers_lieux": "Tiers-lieux",
    "locations_courte_duree": "Locations de courte durée",
    "vtc": "VTC et taxis",
    "equilibre": "Équilibre (indices composites)",
}
FAMILY_ORDER = {"collaboratif": 0, "plateforme": 1, "contexte": 2}


def domain_label(domaine: str) -> str:
    """"locations_courte_duree" -> "Locations de courte durée" (an unknown id: "Mon domaine")."""
    return DOMAIN_LABELS.get(domaine) or (domaine or "autre").replace("_", " ").capitalize()


def domain_rank(domaine: str) -> tuple[int, str]:
    """Sort key of a domain: the order of `DOMAIN_LABELS`, unknown domains last by id."""
    order = list(DOMAIN_LABELS)
    return (order.index(domaine), "") if domaine in DOMAIN_LABELS else (len(order), domaine or "")


def sort_catalogue(catalogue: pl.DataFrame) -> pl.DataFrame:
    """Catalogue rows grouped by domain (menu order), then family, then label."""
    keys = [(domain_rank(r["domaine"]), FAMILY_ORDER.get(r["famille"], 9), fmt.sort_key(r["libelle"]), r["indicateur"])
            for r in catalogue.iter_rows(named=True)]
    order = sorted(range(catalogue.height), key=keys.__getitem__)
    return catalogue[order] if catalogue.height else catalogue


def domains(catalogue: pl.DataFrame) -> list[str]:
    """The catalogue's domain ids, in `domain_rank` order."""
    return sorted(catalogue["domaine"].unique().to_list(), key=domain_rank)


def indicator_labels(catalogue: pl.DataFrame, available: set[str] | None = None) -> dict[str, str]:
    """id -> "Domaine › famille › Libellé (unité)", in domain, family and label order (a searchable list)."""
    out = {}
    for r in sort_catalogue(catalogue).iter_rows(named=True):
        label = f"{domain_label(r['domaine'])} › {r['famille']} › {r['libelle']}"
        if r["unite"]:
            label += f" ({r['unite']})"
        if available is not None and r["indicateur"] not in available:
            label += " · pas de donnée à ce niveau"
        out[r["indicateur"]] = label
    return out


def period_options(avail: pl.DataFrame, niveau: str, ids: list[str]) -> dict[str, str]:
    """period -> French label, latest first; a year also stands for its months ("2024 et ses mois")."""
    periods = avail.filter((pl.col("niveau") == niveau) & pl.col("indicateur").is_in(ids)).explode("periodes")
    found = etl_periods.sort(set(periods["periodes"].drop_nulls().to_list()), reverse=True)
    years = {str(etl_periods.parse(p).year) for p in found}
    out: dict[str, str] = {}
    out["courante"] = "Valeur affichée par l'observatoire (dernière période de chaque indicateur)"
    typed = [etl_periods.parse(p) for p in found]
    for y in sorted(years, key=int, reverse=True):
        parts = [p.text for p in typed if p.kind != "annee" and p.year == int(y)]
        out[y] = f"{y} (et ses mois)" if parts else y
        for p in parts:
            out[p] = fmt.period(p)
    return out


# -- building the file --------------------------------------------------------------------------

@dataclass(frozen=True)
class Built:
    """An extract ready for a download button."""

    content: bytes | None
    filename: str
    mime: str
    describe: str
    preview: pl.DataFrame
    warnings: tuple[str, ...]
    companion: str | None
    companion_name: str | None
    cells: int
    command: str
    attribution: str
    sources: pl.DataFrame
    natures: dict[str, int]  # rows of the long table per nature


def command_line(request: export.Request) -> str:
    """The same extract from the command line (for bigger files, or to script it)."""
    parts = ["python -m etl export", f"--niveau {request.niveau}"]
    if request.parent:
        parts.append(f"--parent {request.parent}")
    if request.codes:
        parts.append(f"--codes {','.join(request.codes)}")
    if request.indicateurs:
        parts.append(f"--indicateurs {','.join(request.indicateurs)}")
    if request.periodes:
        parts.append(f"--periode {','.join(request.periodes)}")
    parts += [f"--layout {request.layout}", f"--format {request.format}"]
    return " ".join(parts)


def in_memory(folder: Path, version: str) -> export.Source | None:
    """The files of the served data version, from the frames the server keeps in memory (read once per
    version): planning an extract from the files decompressed every indicator file at each view (0.3 s
    of CPU). None for another folder (the file is then read)."""
    if not version or data.folder(version) != folder.resolve():
        return None

    def source(path: Path) -> pl.LazyFrame:
        return data.table(path.resolve().relative_to(folder.resolve()).as_posix(), version).lazy()

    return source


@st.cache_resource(show_spinner=False, max_entries=8)
def build(request: export.Request, data_dir: str, version: str = "") -> Built:
    """Plan, preview and write an extract (raises `export.ExportError` with a French message).

    `version` (`data.version()`) only keys the cache: a refreshed folder is not served stale extracts.
    `cache_resource`, not `cache_data`: the extract is shared read-only (a frozen `Built`), where
    `cache_data` pickled it on a miss and unpickled it, file included, at every hit.
    """
    p = export.plan(request, Path(data_dir), source=in_memory(Path(data_dir), version))
    cells = p.output_rows * len(p.columns)
    content = export.to_bytes(p) if cells <= page_max_cells(request.format) else None
    csv = request.format in ("csv", "csv-fr")
    return Built(
        content=content, filename=p.filename, mime=p.mime, describe=p.describe(), preview=export.preview(p, 20),
        warnings=tuple(p.warnings), companion=export.sources_text(p) if csv else None,
        companion_name=export.companion_path(Path(p.filename)).name if csv else None, cells=cells,
        command=command_line(request), attribution=export.attribution(p), sources=export.sources_table(p),
        natures=dict(p.summary.group_by("nature").agg(pl.col("lignes").sum()).iter_rows()),
    )


def nature_notice(natures: dict[str, int], layout: str) -> str | None:
    """The visible label an extract with estimated or simulated rows needs, or None."""
    names = {"estime": "estimations", "simule": "données simulées"}
    parts = [f"{names.get(n, n)} ({fmt.number(k)} valeur{'s' if k > 1 else ''})"
             for n, k in sorted(natures.items()) if n != "reel" and k]
    if not parts:
        return None
    where = ("la colonne « nature » de chaque ligne" if layout == "long" else
             "le nom de leur colonne (…_estime, …_simule) ou une colonne …_nature")
    return f"Cet extrait contient des {' et des '.join(parts)} : {where} les signale."


def human_size(n: int) -> str:
    """Bytes in French: "834 octets", "12,3 ko", "4,5 Mo"."""
    if n < 1024:
        return f"{n} octets"
    if n < 1024 * 1024:
        return f"{fmt.number(n / 1024, 1)} ko"
    return f"{fmt.number(n / 1024 / 1024, 1)} Mo"


# -- dictionary page ------------------------------------------------------------------------------

def sens_label(sens: int | None, famille: str | None) -> str:
    """What a higher value means, in words."""
    if not sens:
        return "contexte"
    what = {"collaboratif": "d'adoption collaborative", "plateforme": "de pénétration des plateformes"}.get(
        famille or "", "du phénomène mesuré")
    return f"plus élevé = {'plus' if sens > 0 else 'moins'} {what}"


def _period_span(periods: list[str]) -> str:
    if not periods:
        return ""
    return periods[0] if len(periods) == 1 else f"{periods[0]} à {periods[-1]} ({len(periods)} périodes)"


def search_catalogue(catalogue: pl.DataFrame, query: str | None) -> pl.DataFrame:
    """Catalogue rows matching a query: a list of exact ids ("population,densite") or words anywhere."""
    q = (query or "").strip()
    if not q:
        return catalogue
    ids = export.split_list(q)
    known = set(catalogue["indicateur"].to_list())
    if ids and all(i in known for i in ids):
        return catalogue.filter(pl.col("indicateur").is_in(list(ids)))
    words = normalise(q).split()
    text = [normalise(" ".join(str(r[c] or "") for c in ("indicateur", "libelle", "definition", "domaine",
                                                          "famille", "source", "licence", "unite")))
            for r in catalogue.iter_rows(named=True)]
    keep = [all(w in t for w in words) for t in text]
    return catalogue.filter(pl.Series(keep, dtype=pl.Boolean))


def catalogue_view(catalogue: pl.DataFrame, avail: pl.DataFrame) -> pl.DataFrame:
    """The catalogue as shown to readers: French headers, meaning of `sens`, levels and periods present."""
    info: dict[str, dict[str, set]] = {}
    for r in avail.iter_rows(named=True):
        i = info.setdefault(r["indicateur"], {"niveaux": set(), "periodes": set(), "natures": set()})
        i["niveaux"].add(r["niveau"])
        i["periodes"].update(r["periodes"])
        i["natures"].update(r["natures"])
    order = {lv: n for n, lv in enumerate(LEVELS)}
    rows = []
    for r in sort_catalogue(catalogue).iter_rows(named=True):
        i = info.get(r["indicateur"], {})
        rows.append({
            "Domaine": domain_label(r["domaine"]), "Famille": r["famille"], "Libellé": r["libelle"],
            "Identifiant": r["indicateur"], "Unité": r["unite"], "Définition": r["definition"],
            "Sens": sens_label(r["sens"], r["famille"]), "Source": r["source"], "Licence": r["licence"],
            "Niveaux": ", ".join(sorted(i.get("niveaux", []), key=order.get)) or "pas de donnée",
            "Périodes": _period_span(etl_periods.sort(i.get("periodes", []))),
            "Nature": ", ".join(fmt.nature_label(n) or "mesurée" for n in sorted(i.get("natures", []))),
        })
    return pl.DataFrame(rows, schema={k: pl.String for k in (
        "Domaine", "Famille", "Libellé", "Identifiant", "Unité", "Définition", "Sens", "Source", "Licence",
        "Niveaux", "Périodes", "Nature")})


def sources_view(manifest: dict[str, Any]) -> pl.DataFrame:
    """One row per source of the manifest: live URL, licence, vintage, retrieval date, rows rejected."""
    rows = []
    for name, s in sorted(manifest.get("sources", {}).items()):
        rejected = s.get("lignes_rejetees") or {}
        urls = s.get("urls") or []
        rows.append({
            "Source": name, "Jeu de données": s.get("titre", name), "Producteur": s.get("producteur", ""),
            "Adresse en ligne": urls[0] if urls else s.get("page", ""),
            "Autres fichiers": len(urls) - 1 if len(urls) > 1 else 0,
            # which address (the publisher's own file or a public copy) and why
            "Provenance": s.get("provenance", ""),
            "Page": s.get("page", ""), "Licence": s.get("licence", ""), "Millésime": s.get("millesime", ""),
            "Récupéré le": export.french_date(s.get("recupere_le")),
            "Origine": {"miroir": "copie hors ligne", "live": "en ligne"}.get(s.get("origine", ""), ""),
            "Nature": fmt.nature_label(s.get("nature", "reel")) or "mesurée",
            "Lignes lues": s.get("lignes_lues"), "Lignes rejetées": sum(rejected.values()),
            "Attribution": s.get("attribution", ""),
        })
    return pl.DataFrame(rows, schema_overrides={"Lignes lues": pl.Int64, "Lignes rejetées": pl.Int64,
                                                "Autres fichiers": pl.Int64})


def rejections_view(manifest: dict[str, Any]) -> pl.DataFrame:
    """Every reason a row was rejected, by source (while reading) and by mart (while building)."""
    rows = []
    for kind, entries in (("source", manifest.get("sources", {})), ("mart", manifest.get("marts", {}))):
        for name, e in sorted(entries.items()):
            for reason, n in sorted((e.get("lignes_rejetees") or {}).items()):
                rows.append({"Étape": "lecture de la source" if kind == "source" else "construction du mart",
                             "Nom": name, "Raison": reason, "Lignes": int(n)})
    return pl.DataFrame(rows, schema={"Étape": pl.String, "Nom": pl.String, "Raison": pl.String, "Lignes": pl.Int64})


def all_urls(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, url) for every file of every source."""
    return [(name, u) for name, s in sorted(manifest.get("sources", {}).items()) for u in (s.get("urls") or [])]
