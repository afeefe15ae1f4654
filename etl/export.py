"""Extracts of the `indicateurs` table for analysts: choose, cut, write (CSV, XLSX, Parquet, GeoJSON).

One module serves the page "Données et téléchargements" and `python -m etl export`, so that the
same request gives the same file from both. It knows no domain: every indicator of the catalogue
can be extracted as soon as a mart writes its rows to `indicateurs/<mart>.parquet`.

- `plan(request, data_dir)` checks the request against the marts (an unknown level, territory,
  indicator or period raises `ExportError` naming it) and measures what will be written, in one
  pass over the indicator files that keeps only counts.
- `batches(plan)` yields the rows chunk of territories by chunk of territories, sorted by code:
  memory stays bounded by the chunk, whatever the size of France or of the catalogue.
- `write(plan, out)` streams the batches to the chosen format, with the data dictionary and the
  attributions the sources require (a "sources" sheet, Parquet key-value metadata, GeoJSON
  foreign members, or a `_sources.txt` file beside a CSV).

Layouts: `long` is the contract's table (one row per territory, indicator, period and source,
with `nature` and `source` on every row); `wide` has one row per territory and one column per
indicator and period (`population_2023`). In `wide`, a column whose values are all estimated or
simulated says so in its name (`..._estime`, `..._simule`), a column whose nature varies gets a
companion `<colonne>_nature` column, and two sources of one indicator and period get a column
each (`..._<source>`); the dictionary gives each column's indicator, period, source and nature.
"""

from __future__ import annotations

import difflib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

from dashboard import fmt
from etl import periods as etl_periods
from etl.config import data_dir as default_data_dir
from etl.indicators import NIVEAUX, PERIOD_RE
from etl.store import atomic_path, read_manifest

# -- what can be asked -------------------------------------------------------------------------

#: format id -> (file extension, MIME type, French description)
FORMATS: dict[str, tuple[str, str, str]] = {
    "csv-fr": ("csv", "text/csv", "CSV pour Excel en français (séparateur « ; », virgule décimale, UTF-8 avec BOM)"),
    "csv": ("csv", "text/csv", "CSV standard (séparateur « , », point décimal, UTF-8)"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "classeur Excel (feuilles « données », « dictionnaire » et « sources »)"),
    "parquet": ("parquet", "application/vnd.apache.parquet",
                "Parquet (dictionnaire et sources dans les métadonnées du fichier)"),
    "geojson": ("geojson", "application/geo+json",
                "GeoJSON (une entité par territoire, avec son contour ; disposition large)"),
}
LAYOUTS = {
    "long": "longue (une ligne par territoire, indicateur, période et source)",
    "wide": "large (une ligne par territoire, une colonne par indicateur et période)",
}
LEVEL_PLURAL = {"commune": "communes", "arrondissement": "arrondissements", "epci": "epci",
                "departement": "departements", "region": "regions", "france": "france"}
LEVEL_LABEL = {"commune": "commune", "arrondissement": "arrondissement municipal", "epci": "intercommunalité",
               "departement": "département", "region": "région", "france": "France"}
LEVEL_LABEL_PLURAL = {"commune": "communes", "arrondissement": "arrondissements municipaux",
                      "epci": "intercommunalités", "departement": "départements", "region": "régions",
                      "france": "France"}
#: Higher levels first; a parent must stand before its children.
LEVEL_RANK = {"france": 0, "region": 1, "departement": 2, "epci": 3, "commune": 4, "arrondissement": 5}
#: The column of `territoires` that holds a territory's parent of each level. An EPCI's
#: département and région are those holding most of its population (one parent each, as in the
#: dashboard's header): "the EPCI of département 33" are those whose main département is 33.
PARENT_COLUMN = {"region": "code_region", "departement": "code_departement", "epci": "code_epci",
                 "commune": "code_commune"}
OF_LEVEL = {"region": "de la région", "departement": "du département", "epci": "de l'intercommunalité",
            "commune": "de la commune"}
ALL_WORDS = {"", "all", "tout", "toutes", "tous", "*"}
#: `--periode courante`: for each territory and indicator, the value the dashboard shows (the
#: latest period, measured before simulated: `valeurs/courantes.parquet`, one answer per figure).
CURRENT_WORDS = {"courante", "courantes", "current", "actuelle", "affichee", "affichée"}
CURRENT_FILE = "valeurs/courantes.parquet"
FRANCE_CODE = "FR"

#: The mart whose sources give every extract its names, parents and populations.
REFERENCE_MART = "territoires"

#: Memory bounds of one batch (rows of the long table; cells of the wide table).
BATCH_ROWS = 100_000
BATCH_CELLS = 1_000_000
XLSX_MAX_ROWS = 1_048_576

LONG_COLUMNS = ("niveau", "code", "nom", "indicateur", "libelle", "unite", "periode", "valeur", "nature", "source")
#: Text that a spreadsheet would read as a formula (OWASP "CSV injection").
DANGEROUS = re.compile(r"^[=+\-@\t\r]")


class ExportError(ValueError):
    """A request that cannot be served; the message (French) names what is wrong."""


@dataclass(frozen=True)
class Request:
    """What an analyst asks for. Empty `indicateurs` or `periodes` mean all of them.

    `parent` is a territory of a higher level: `"33"`, `"departement:33"`, `"region:75"` or
    `"epci:243300316"` (a bare code that exists at two levels, such as 75, must be prefixed).
    `codes` and `parent` exclude each other; with neither, the extract covers all of France.
    """

    niveau: str
    codes: tuple[str, ...] = ()
    parent: str | None = None
    indicateurs: tuple[str, ...] = ()
    periodes: tuple[str, ...] = ()
    layout: str = "long"
    format: str = "csv-fr"


@dataclass(frozen=True)
class Column:
    """One column of an extract and its entry in the dictionary."""

    name: str
    libelle: str
    unite: str = ""
    definition: str = ""
    indicateur: str = ""
    periode: str = ""
    source: str = ""
    nature: str = ""
    numeric: bool = False


@dataclass
class Plan:
    """A checked request: the territories, indicators and columns of the file to write."""

    request: Request
    data_dir: Path
    niveau: str
    scope: str
    scope_slug: str
    territories: pl.DataFrame  # code, nom; sorted by code
    whole_level: bool
    indicators: pl.DataFrame  # catalogue rows
    period_prefixes: tuple[str, ...] | None
    columns: list[Column]
    summary: pl.DataFrame  # fichier, indicateur, periode, source, nature, lignes (selected rows)
    wide_key: pl.DataFrame | None
    sources: list[dict[str, Any]]
    territory_rows: pl.Series  # long rows of each territory of `territories` (same order)
    warnings: list[str] = field(default_factory=list)
    #: the values the dashboard shows (one per territory and indicator) rather than every period
    courante: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: Source | None = field(default=None, repr=False, compare=False)

    @property
    def rows(self) -> int:
        """Rows of the long table in the extract."""
        return int(self.summary["lignes"].sum()) if self.summary.height else 0

    @property
    def output_rows(self) -> int:
        """Data rows of the file: long rows, or one per territory in the wide layout."""
        return self.rows if self.request.layout == "long" else self.territories.height

    @property
    def extension(self) -> str:
        return FORMATS[self.request.format][0]

    @property
    def mime(self) -> str:
        return FORMATS[self.request.format][1]

    @property
    def filename(self) -> str:
        """What the file holds: `extrait_communes_33_covoiturage_2024.xlsx`."""
        domains = sorted(self.indicators["domaine"].unique().to_list())
        if self.request.indicateurs and len(self.request.indicateurs) <= 2:
            what = "-".join(self.request.indicateurs)
        elif not self.request.indicateurs:
            what = "tous-indicateurs"
        elif len(domains) <= 3:
            what = "-".join(domains)
        else:
            what = f"{self.indicators.height}-indicateurs"
        if self.courante:
            when = "valeurs-courantes"
        elif self.period_prefixes is None:
            when = "toutes-periodes"
        elif len(self.period_prefixes) == 1:
            when = self.period_prefixes[0]
        else:
            ordered = etl_periods.sort(self.period_prefixes)
            when = f"{ordered[0]}_{ordered[-1]}"
        parts = ["extrait", LEVEL_PLURAL[self.niveau], self.scope_slug, what, when]
        if self.request.layout == "wide" and self.request.format != "geojson":
            parts.append("large")
        stem = "_".join(_slug(p) for p in parts if p)
        return f"{stem}.{self.extension}"

    def describe(self) -> str:
        """One French sentence: what the extract holds."""
        n_ind = self.indicators.height
        periods = ("la valeur affichée de chaque indicateur (dernière période connue)" if self.courante else
                   "toutes" if self.period_prefixes is None else ", ".join(self.period_prefixes))
        return (f"{self.scope} · {n_ind} indicateur{'s' if n_ind > 1 else ''} · périodes : {periods} · "
                f"disposition {LAYOUTS[self.request.layout].split(' (')[0]} · "
                f"{fmt.number(self.output_rows)} ligne{'s' if self.output_rows > 1 else ''}")


# -- reading the marts ------------------------------------------------------------------------

def indicator_files(data_dir: Path) -> list[Path]:
    """Every domain's file of the long `indicateurs` table."""
    return sorted((Path(data_dir) / "indicateurs").glob("*.parquet"))


def _files(data_dir: Path, current: bool = False) -> list[Path]:
    if current:
        path = Path(data_dir) / CURRENT_FILE
        if not path.exists():
            raise ExportError(f"valeurs courantes absentes : {path} (reconstruire les données : python -m etl run --all)")
        return [path]
    files = indicator_files(data_dir)
    if not files:
        raise ExportError(f"aucun fichier d'indicateurs dans {Path(data_dir) / 'indicateurs'}")
    return files


#: Where the rows of a file come from: read from disk by default (the command line streams files it
#: reads once); a server passes its frames already in memory (`dashboard.extracts`), so that an
#: extract does not decompress every indicator file again at each view of the data page.
Source = Callable[[Path], pl.LazyFrame]


def _scan_file(path: Path, source: Source | None = None) -> pl.LazyFrame:
    """One file of rows in the contract's columns (the current values also carry their refusals: left out)."""
    scan = source(path) if source is not None else pl.scan_parquet(path)
    if path.name == Path(CURRENT_FILE).name:
        scan = scan.filter(pl.col("valeur").is_not_null()).select(
            "niveau", "code", "indicateur", "periode", "valeur", "nature", "source")
    return scan


def _scan(data_dir: Path, current: bool = False, source: Source | None = None) -> pl.LazyFrame:
    return pl.concat([_scan_file(f, source) for f in _files(data_dir, current)])


def is_current(request: Request) -> bool:
    """Whether the request asks for the values the dashboard shows (`periodes=("courante",)`)."""
    return any(p.strip().lower() in CURRENT_WORDS for p in request.periodes)


def _read(data_dir: Path, name: str, source: Source | None = None) -> pl.DataFrame:
    path = Path(data_dir) / name
    if not path.exists():
        raise ExportError(f"fichier absent du dossier des données : {path}")
    return source(path).collect() if source is not None else pl.read_parquet(path)


def _engine(source: Source | None) -> str:
    """Files are streamed (a country-wide extract holds millions of rows); frames already in memory
    are read by the in-memory engine, which starts faster."""
    return "streaming" if source is None else "in-memory"


# -- checking a request ------------------------------------------------------------------------

def split_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """"a, b;c d" or ["a", "b"] -> ("a", "b", "c", "d"): lists pasted from a spreadsheet."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out += [x for x in re.split(r"[\s,;]+", str(item)) if x]
    return tuple(dict.fromkeys(out))


def normalise_level(text: str) -> str:
    """"Départements", "EPCI", "communes" -> the contract's level names."""
    t = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().strip().lower()
    if t in NIVEAUX:
        return t
    if t.endswith("s") and t[:-1] in NIVEAUX:
        return t[:-1]
    raise ExportError(f"niveau inconnu : « {text} » (niveaux possibles : {', '.join(NIVEAUX)})")


def _names(territoires: pl.DataFrame, niveau: str) -> pl.DataFrame:
    return territoires.filter(pl.col("niveau") == niveau)


def _unknown_codes(asked: Iterable[str], known: set[str], niveau: str) -> str:
    shown = []
    for c in list(asked)[:10]:
        hint = next((c.zfill(n) for n in (5, 9) if c.isdigit() and len(c) < n and c.zfill(n) in known), None)
        shown.append(f"{c} ({hint} ?)" if hint else c)
    more = len(list(asked)) - len(shown)
    return (f"code{'s' if len(shown) > 1 else ''} inconnu{'s' if len(shown) > 1 else ''} au niveau "
            f"{LEVEL_LABEL[niveau]} : {', '.join(shown)}" + (f" et {more} autres" if more > 0 else ""))


def _resolve_parent(territoires: pl.DataFrame, niveau: str, parent: str) -> tuple[str, dict]:
    """The parent territory (level and row) of a `--parent` value."""
    text = parent.strip()
    if ":" in text:
        level_text, code = text.split(":", 1)
        levels = [normalise_level(level_text)]
    else:
        code, levels = text, [lv for lv in LEVEL_RANK if LEVEL_RANK[lv] < LEVEL_RANK[niveau]]
    code = code.strip().upper()
    if code in ("FR", "FRANCE"):
        code = FRANCE_CODE
    found = [
        (lv, row)
        for lv in levels
        for row in territoires.filter((pl.col("niveau") == lv) & (pl.col("code") == code)).iter_rows(named=True)
    ]
    if not found:
        raise ExportError(f"territoire parent inconnu : « {parent} »")
    if len(found) > 1:
        choices = " ou ".join(f"--parent {lv}:{code} ({row['nom']})" for lv, row in found)
        raise ExportError(f"territoire parent ambigu : « {parent} » ; préciser {choices}")
    lv, row = found[0]
    if LEVEL_RANK[lv] >= LEVEL_RANK[niveau]:
        raise ExportError(f"« {parent} » ({LEVEL_LABEL[lv]}) n'est pas d'un niveau supérieur au niveau "
                          f"{LEVEL_LABEL[niveau]}")
    return lv, row


def _territories(request: Request, territoires: pl.DataFrame, niveau: str
                 ) -> tuple[pl.DataFrame, bool, str, str]:
    """The territories asked for (code, nom), whether it is a whole level, a French scope and a slug."""
    level = _names(territoires, niveau).select("code", "nom", *PARENT_COLUMN.values())
    plural = LEVEL_LABEL_PLURAL[niveau]
    if request.codes and request.parent:
        raise ExportError("choisir soit une liste de codes, soit un territoire parent, pas les deux")
    if request.codes:
        codes = [c.strip().upper() for c in request.codes]
        known = set(level["code"].to_list())
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ExportError(_unknown_codes(unknown, known, niveau))
        chosen = level.filter(pl.col("code").is_in(codes))
        slug = codes[0] if len(codes) == 1 else f"{len(codes)}-territoires"
        if len(codes) == 1:
            scope = f"{LEVEL_LABEL[niveau].capitalize()} {chosen['nom'][0]} ({codes[0]})"
        else:
            scope = f"{len(codes)} {plural} choisi{'s' if niveau in ('departement', 'arrondissement') else 'es'}"
        return chosen.select("code", "nom").sort("code"), False, scope, slug
    if request.parent and niveau != "france":
        lv, row = _resolve_parent(territoires, niveau, request.parent)
        if lv != "france":
            chosen = level.filter(pl.col(PARENT_COLUMN[lv]) == row["code"])
            scope = f"{plural.capitalize()} {OF_LEVEL[lv]} {row['nom']} ({row['code']})"
            return chosen.select("code", "nom").sort("code"), False, scope, row["code"]
    if niveau == "france":
        scope = "France"
    else:
        scope = f"{'Tous' if niveau in ('departement', 'arrondissement') else 'Toutes'} les {plural} de France"
    return level.select("code", "nom").sort("code"), True, scope, "france" if niveau != "france" else ""


def _indicators(request: Request, catalogue: pl.DataFrame) -> pl.DataFrame:
    if not request.indicateurs:
        return catalogue
    known = catalogue["indicateur"].to_list()
    unknown = [i for i in request.indicateurs if i not in known]
    if unknown:
        parts = []
        for i in unknown:
            close = difflib.get_close_matches(i, known, n=1)
            parts.append(f"{i} (vouliez-vous dire {close[0]} ?)" if close else i)
        raise ExportError(f"indicateur{'s' if len(unknown) > 1 else ''} inconnu{'s' if len(unknown) > 1 else ''} "
                          f"du catalogue : {', '.join(parts)}")
    order = {i: n for n, i in enumerate(request.indicateurs)}
    return catalogue.filter(pl.col("indicateur").is_in(request.indicateurs)).sort(
        pl.col("indicateur").replace_strict(order, return_dtype=pl.Int32))


def _parses(text: str) -> bool:
    try:
        etl_periods.parse(text)
    except etl_periods.PeriodError:
        return False
    return True


def _period_prefixes(request: Request) -> tuple[str, ...] | None:
    asked = [p.strip() for p in request.periodes]
    if not asked or any(p.lower() in ALL_WORDS for p in asked) or is_current(request):
        return None
    bad = [p for p in asked if not PERIOD_RE.match(p) or not _parses(p)]
    if bad:
        raise ExportError(f"période mal écrite : {', '.join(bad)} (attendu AAAA, AAAA-MM ou AAAA-MM-JJ, ou « all »)")
    return tuple(dict.fromkeys(asked))


def period_filter(prefixes: Iterable[str]) -> pl.Expr:
    """`2024` selects 2024 and its months and days; `2024-03` selects March 2024 and its days (typed periods)."""
    start, end = etl_periods.start_expr(), etl_periods.end_expr()
    return pl.any_horizontal([(start >= etl_periods.parse(p).start) & (end <= etl_periods.parse(p).end) for p in prefixes])


def plan(request: Request, data_dir: Path | None = None, *, source: Source | None = None) -> Plan:
    """Check `request` against the marts of `data_dir` and measure the extract; raise `ExportError`.

    `source`: where the rows of each file of `data_dir` are read from (default: the file itself).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if request.format not in FORMATS:
        raise ExportError(f"format inconnu : « {request.format} » (formats possibles : {', '.join(FORMATS)})")
    if request.layout not in LAYOUTS:
        raise ExportError(f"disposition inconnue : « {request.layout} » (long ou wide)")
    if request.format == "geojson" and request.layout != "wide":
        raise ExportError("le GeoJSON a une entité par territoire : choisir la disposition large (wide)")
    niveau = normalise_level(request.niveau)
    territoires = _read(data_dir, "territoires.parquet", source)
    catalogue = _read(data_dir, "catalogue.parquet", source)
    engine = _engine(source)
    territories, whole, scope, slug = _territories(request, territoires, niveau)
    indicators = _indicators(request, catalogue)
    prefixes = _period_prefixes(request)
    current = is_current(request)
    ids = indicators["indicateur"].to_list()

    # one pass over each indicator file, keeping counts only: per indicator, period, source and
    # nature (what the extract holds), and per territory (where `batches` may cut). File by file
    # and in the streaming engine: a scan of all files tagged with their path held every row's
    # path (+270 MB for 5.8 million rows), sharing the scan between the two counts cached it whole.
    base = (pl.col("niveau") == niveau) & pl.col("indicateur").is_in(ids)
    selected = pl.lit(True) if whole else pl.col("code").is_in(territories["code"].to_list())
    counts = pl.concat([
        _scan_file(f, source).filter(base)
        .group_by("indicateur", "periode", "source", "nature")
        .agg(lignes=(pl.len() if whole else selected.sum()).cast(pl.Int64))
        .select(pl.lit(f.stem).alias("fichier"), pl.all())
        .collect(engine=engine)
        for f in _files(data_dir, current)
    ])
    per_territory = (
        _scan(data_dir, current, source).filter(base & selected & (period_filter(prefixes) if prefixes is not None else pl.lit(True)))
        .group_by("code").agg(lignes=pl.len().cast(pl.Int64))
        .collect(engine=engine)
    )
    warnings: list[str] = []
    if prefixes is not None:
        available = etl_periods.sort(counts["periode"].unique().to_list())
        typed = [etl_periods.parse(q) for q in available]
        unknown = [p for p in prefixes if not any(etl_periods.parse(p).contains(q) for q in typed)]
        if unknown:
            shown = ", ".join(available[:12]) + (" …" if len(available) > 12 else "") if available else "aucune"
            raise ExportError(f"période{'s' if len(unknown) > 1 else ''} sans donnée pour ces indicateurs au niveau "
                              f"{LEVEL_LABEL[niveau]} : {', '.join(unknown)} (périodes disponibles : {shown})")
        counts = counts.filter(period_filter(prefixes))
    summary = counts.filter(pl.col("lignes") > 0).sort(
        "indicateur", "periode", "source", "nature", "fichier")
    without = [i for i in ids if i not in set(summary["indicateur"].to_list())]
    if without and request.indicateurs:
        warnings.append(f"sans donnée pour cette sélection : {', '.join(without)}")
    if summary.height == 0:
        warnings.append("aucune valeur pour cette sélection : le fichier ne contiendra que les en-têtes"
                        if request.layout == "long" else
                        "aucune valeur pour cette sélection : les colonnes d'indicateurs seront vides")
    if request.layout == "wide":
        columns, wide_key = _wide_columns(summary, indicators)
    else:
        columns, wide_key = _long_columns(), None
    p = Plan(request=request, data_dir=data_dir, niveau=niveau, scope=scope, scope_slug=slug,
             territories=territories, whole_level=whole, indicators=indicators, period_prefixes=prefixes,
             columns=columns, summary=summary, wide_key=wide_key, sources=[], warnings=warnings,
             territory_rows=territories.select("code").join(per_territory, on="code", how="left",
                                                            maintain_order="left")["lignes"].fill_null(0),
             courante=current, source=source)
    p.sources = _sources(p, read_manifest(data_dir))
    return p


# -- columns -----------------------------------------------------------------------------------

_ID_COLUMNS = [
    Column("niveau", "Niveau territorial", definition="commune, arrondissement, epci, departement, region ou france"),
    Column("code", "Code du territoire",
           definition="Code Insee (commune, arrondissement, département, région), SIREN (EPCI) ou FR ; texte, "
                      "zéros initiaux compris"),
    Column("nom", "Nom du territoire", definition="Nom officiel (Code officiel géographique en vigueur)"),
]


def _long_columns() -> list[Column]:
    return [
        *_ID_COLUMNS,
        Column("indicateur", "Identifiant de l'indicateur", definition="Voir les lignes « valeur » ci-dessous"),
        Column("libelle", "Libellé de l'indicateur"),
        Column("unite", "Unité de la valeur"),
        Column("periode", "Période", definition="AAAA (année), AAAA-MM (mois) ou AAAA-MM-JJ (jour)"),
        Column("valeur", "Valeur de l'indicateur", definition="Nombre ; l'unité est dans la colonne « unite ». "
               "Un territoire sans donnée n'a pas de ligne (jamais un 0).", numeric=True),
        Column("nature", "Nature de la donnée",
               definition="reel : mesurée ; estime : calculée par un modèle ; simule : données simulées"),
        Column("source", "Source de la valeur", definition="Identifiant de la source : voir la feuille « sources »"),
    ]


def _wide_columns(summary: pl.DataFrame, indicators: pl.DataFrame) -> tuple[list[Column], pl.DataFrame]:
    """One value column per (indicator, period, source), named so that no information is lost."""
    cat = {r["indicateur"]: r for r in indicators.iter_rows(named=True)}
    order = {i: n for n, i in enumerate(indicators["indicateur"].to_list())}
    groups = (
        summary.group_by("indicateur", "periode", "source")
        .agg(natures=pl.col("nature").unique().sort())
        .with_columns(_o=pl.col("indicateur").replace_strict(order, return_dtype=pl.Int32))
        .sort(["_o", *etl_periods.sort_expr(), "source"])
    )
    n_sources = dict(((r["indicateur"], r["periode"]), r["len"]) for r in
                     groups.group_by("indicateur", "periode").len().iter_rows(named=True))
    columns = list(_ID_COLUMNS)
    key_rows = []
    for r in groups.iter_rows(named=True):
        ind, per, src, natures = r["indicateur"], r["periode"], r["source"], r["natures"]
        name = f"{ind}_{per.replace('-', '_')}"
        if n_sources[(ind, per)] > 1:
            name += f"_{_slug(src).replace('-', '_')}"
        one_nature = natures[0] if len(natures) == 1 else None
        if one_nature and one_nature != "reel":
            name += f"_{one_nature}"
        c = cat[ind]
        columns.append(Column(name, f"{c['libelle']} ({fmt.period(per)})", c["unite"] or "", c["definition"] or "",
                              ind, per, src, one_nature or "variable : voir " + name + "_nature", numeric=True))
        nature_col = None
        if one_nature is None:
            nature_col = f"{name}_nature"
            columns.append(Column(nature_col, f"Nature de {name}", "",
                                  "reel : mesurée ; estime : estimation ; simule : données simulées", ind, per, src))
        key_rows.append({"indicateur": ind, "periode": per, "source": src, "colonne": name, "colonne_nature": nature_col})
    key = pl.DataFrame(key_rows, schema={"indicateur": pl.String, "periode": pl.String, "source": pl.String,
                                         "colonne": pl.String, "colonne_nature": pl.String})
    return columns, key


def empty_frame(p: Plan) -> pl.DataFrame:
    """The extract's columns with their types and no row."""
    return pl.DataFrame(schema={c.name: pl.Float64 if c.numeric else pl.String for c in p.columns})


# -- the rows ----------------------------------------------------------------------------------

def _chunks(p: Plan) -> Iterator[pl.DataFrame]:
    """Consecutive slices of the territories, as large as the memory bounds allow.

    Each slice reads at most `BATCH_ROWS` long rows and, in the wide layout, writes at most
    `BATCH_CELLS` cells. The cut follows each territory's own row count (`Plan.territory_rows`),
    not an average: a commune with the short-term rental figures holds almost three times the rows
    of one without, and a cut on the average overflowed. A territory is never split, so one holding
    more rows than the bound is a slice of its own.
    """
    n = p.territories.height
    if n == 0:
        return
    per = p.territory_rows.to_list()
    most = n if p.request.layout == "long" else max(1, BATCH_CELLS // max(1, len(p.columns)))
    start, acc = 0, 0
    for i, k in enumerate(per):
        if i > start and (acc + k > BATCH_ROWS or i - start >= most):
            yield p.territories.slice(start, i - start)
            start, acc = i, 0
        acc += k
    yield p.territories.slice(start, n - start)


def batches(p: Plan) -> Iterator[pl.DataFrame]:
    """The extract's rows, a chunk of territories at a time, sorted by territory code."""
    if p.summary.height == 0 and p.request.layout == "long":
        return
    ids = p.indicators["indicateur"].to_list()
    base = (pl.col("niveau") == p.niveau) & pl.col("indicateur").is_in(ids)
    if p.period_prefixes is not None:
        base = base & period_filter(p.period_prefixes)
    scan = _scan(p.data_dir, p.courante, p.source)
    catalogue = p.indicators.select("indicateur", "libelle", "unite")
    for chunk in _chunks(p):
        codes = chunk["code"]
        # a code range lets Parquet skip row groups (files are sorted by niveau, code)
        cond = base & pl.col("code").is_between(pl.lit(codes[0]), pl.lit(codes[-1]))
        if not p.whole_level:
            cond = cond & pl.col("code").is_in(codes.to_list())
        rows = scan.filter(cond).collect(engine=_engine(p.source)) if p.summary.height else None
        if p.request.layout == "long":
            assert rows is not None
            if rows.height == 0:
                continue
            yield (
                rows.sort(["code", "indicateur", *etl_periods.sort_expr(), "source"])
                .join(chunk, on="code", how="left", maintain_order="left")
                .join(catalogue, on="indicateur", how="left", maintain_order="left")
                .select(LONG_COLUMNS)
            )
        else:
            yield _widen(p, chunk, rows)


def _widen(p: Plan, chunk: pl.DataFrame, rows: pl.DataFrame | None) -> pl.DataFrame:
    out = chunk.select(pl.lit(p.niveau).alias("niveau"), "code", "nom")
    if rows is not None and rows.height and p.wide_key is not None:
        keyed = rows.join(p.wide_key, on=["indicateur", "periode", "source"], how="inner")
        values = keyed.pivot(on="colonne", index="code", values="valeur", aggregate_function="first")
        out = out.join(values, on="code", how="left", maintain_order="left")
        natures = keyed.filter(pl.col("colonne_nature").is_not_null())
        if natures.height:
            out = out.join(natures.pivot(on="colonne_nature", index="code", values="nature",
                                         aggregate_function="first"), on="code", how="left", maintain_order="left")
    missing = [pl.lit(None, pl.Float64 if c.numeric else pl.String).alias(c.name) for c in p.columns
               if c.name not in out.columns]
    return out.with_columns(missing).select([pl.col(c.name).cast(pl.Float64 if c.numeric else pl.String)
                                             for c in p.columns])


def preview(p: Plan, n: int = 20) -> pl.DataFrame:
    """The first `n` rows of the extract (without reading more than one chunk)."""
    for b in batches(p):
        return b.head(n)
    return empty_frame(p)


# -- dictionary and sources ------------------------------------------------------------------

def dictionary(p: Plan) -> pl.DataFrame:
    """Every column of the extract (label, unit, definition) and, in the long layout, every indicator."""
    cat = {r["indicateur"]: r for r in p.indicators.iter_rows(named=True)}
    rows = []
    for c in p.columns:
        meta = cat.get(c.indicateur, {})
        rows.append({"colonne": c.name, "libelle": c.libelle, "unite": c.unite, "definition": c.definition,
                     "indicateur": c.indicateur, "periode": c.periode, "source": c.source, "nature": c.nature,
                     "famille": meta.get("famille") or "", "domaine": meta.get("domaine") or "",
                     "licence": meta.get("licence") or ""})
    if p.request.layout == "long":
        natures = p.summary.sort(etl_periods.sort_expr()).group_by("indicateur", maintain_order=True).agg(
            pl.col("nature").unique().sort().str.join(", "), pl.col("source").unique().sort().str.join(", "),
            pl.col("periode").first().alias("debut"), pl.col("periode").last().alias("fin"))
        extra = {r["indicateur"]: r for r in natures.iter_rows(named=True)}
        for ind, meta in cat.items():
            e = extra.get(ind, {})
            periods = "" if not e else (e["debut"] if e["debut"] == e["fin"] else f"{e['debut']} à {e['fin']}")
            rows.append({"colonne": f"valeur (indicateur = {ind})", "libelle": meta["libelle"],
                         "unite": meta["unite"] or "", "definition": meta["definition"] or "", "indicateur": ind,
                         "periode": periods, "source": e.get("source", ""), "nature": e.get("nature", ""),
                         "famille": meta["famille"] or "", "domaine": meta["domaine"] or "",
                         "licence": meta["licence"] or ""})
    return pl.DataFrame(rows, schema={k: pl.String for k in ("colonne", "libelle", "unite", "definition", "indicateur",
                                                              "periode", "source", "nature", "famille", "domaine",
                                                              "licence")})


ROLE_LABELS = {"valeurs": "source des valeurs", "calcul": "utilisée dans le calcul",
               "referentiel": "référentiel des territoires (noms, populations)", "contours": "contours des territoires"}


def _sources(p: Plan, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The sources an extract owes attribution to: its values', their marts', the reference's, the contours'."""
    srcs, marts = manifest.get("sources", {}), manifest.get("marts", {})
    roles: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for r in p.summary.select("indicateur", "source", "fichier").unique().iter_rows(named=True):
        roles.setdefault(r["source"], "valeurs")
        used.setdefault(r["source"], set()).add(r["indicateur"])
        for s in marts.get(r["fichier"], {}).get("sources", []):
            roles.setdefault(s, "calcul")
    for s in marts.get(REFERENCE_MART, {}).get("sources", []):
        roles.setdefault(s, "referentiel")
    if p.request.format == "geojson":
        roles["contours"] = roles.get("contours", "contours")
    cat_by_source = {}
    for r in p.indicators.iter_rows(named=True):
        cat_by_source.setdefault(r["source"], r)
    out = []
    for name, role in roles.items():
        m = srcs.get(name)
        if m is None:  # a source the manifest does not know: what the catalogue says of its indicators
            ind = next(iter(used.get(name, [])), None)
            meta = p.indicators.filter(pl.col("indicateur") == ind).row(0, named=True) if ind else {}
            m = {"titre": meta.get("source", name), "licence": meta.get("licence", ""),
                 "attribution": meta.get("source", name)}
        rejected = m.get("lignes_rejetees") or {}
        out.append({
            "source": name, "role": ROLE_LABELS[role], "titre": m.get("titre", name), "producteur": m.get("producteur", ""),
            "licence": m.get("licence", ""), "millesime": m.get("millesime", ""),
            "recupere_le": french_date(m.get("recupere_le")), "nature": fmt.nature_label(m.get("nature", "reel"))
            or "mesurée", "attribution": m.get("attribution", ""), "url": " ".join(m.get("urls", [])),
            "page": m.get("page", ""), "indicateurs": ", ".join(sorted(used.get(name, []))),
            "lignes_rejetees": "; ".join(f"{k} : {v}" for k, v in sorted(rejected.items())) or "aucune",
        })
    rank = {label: n for n, label in enumerate(ROLE_LABELS.values())}
    return sorted(out, key=lambda r: (rank[r["role"]], r["source"]))


SOURCES_HEADERS = {"source": "source", "role": "rôle", "titre": "titre", "producteur": "producteur",
                   "licence": "licence", "millesime": "millésime", "recupere_le": "récupéré le", "nature": "nature",
                   "attribution": "attribution", "url": "url", "page": "page", "indicateurs": "indicateurs",
                   "lignes_rejetees": "lignes rejetées"}


def sources_table(p: Plan) -> pl.DataFrame:
    return pl.DataFrame(p.sources, schema={k: pl.String for k in SOURCES_HEADERS})


def attribution(p: Plan) -> str:
    """The attribution line to reproduce with the data (each source once)."""
    parts = []
    for s in p.sources:
        text = s["attribution"] or s["titre"]
        if s["licence"] and s["licence"] not in text:
            text += f" ({s['licence']})"
        parts.append(text)
    return " ; ".join(dict.fromkeys(parts))


def french_date(iso: str | None) -> str:
    """"2026-11-25T22:58:00+00:00" -> "25 novembre 2026"."""
    if not iso:
        return ""
    return fmt.period(datetime.fromisoformat(iso).date().isoformat())


def sources_text(p: Plan) -> str:
    """The companion text of a CSV: what the file holds, the attributions, the sources, the dictionary."""
    lines = [
        "Extrait de l'Observatoire de l'économie collaborative",
        f"Fichier : {p.filename}",
        f"Créé le : {french_date(p.created.isoformat())} à {p.created:%H:%M} (UTC)",
        f"Contenu : {p.describe()}",
        f"Format : {FORMATS[p.request.format][2]}",
        "",
        "ATTRIBUTION À REPRODUIRE EN CAS DE RÉUTILISATION",
        attribution(p),
        "",
        "Nature des données : « reel » = mesurée ; « estime » = estimation par un modèle ; « simule » = données "
        "simulées. Un territoire sans donnée n'a pas de ligne (jamais un 0).",
    ]
    if p.request.format == "csv-fr":
        lines.append("Excel : un double-clic ouvre ce fichier correctement (séparateur, accents, virgules décimales), "
                     "mais Excel retire les zéros initiaux des codes (01001 devient 1001) : pour les garder, "
                     "importer par Données > À partir d'un fichier texte/CSV en déclarant la colonne code en Texte, "
                     "ou télécharger le format Excel (XLSX).")
    lines += ["", "SOURCES"]
    for s in p.sources:
        lines.append(f"[{s['source']}] {s['titre']} ({s['role']})")
        for key in ("producteur", "licence", "millesime", "recupere_le", "nature", "attribution", "url", "page",
                    "indicateurs", "lignes_rejetees"):
            if s[key]:
                lines.append(f"    {SOURCES_HEADERS[key]} : {s[key]}")
    lines += ["", "DICTIONNAIRE DES COLONNES"]
    for r in dictionary(p).iter_rows(named=True):
        unit = f" [{r['unite']}]" if r["unite"] else ""
        lines.append(f"{r['colonne']} : {r['libelle']}{unit}")
        for key in ("definition", "periode", "source", "nature", "licence"):
            if r[key]:
                lines.append(f"    {key} : {r[key]}")
    return "\n".join(lines) + "\n"


def metadata(p: Plan) -> dict[str, str]:
    """Key-value metadata of a Parquet extract (and foreign members of a GeoJSON one)."""
    return {
        "observatoire:extrait": json.dumps({"contenu": p.describe(), "fichier": p.filename,
                                            "cree_le": p.created.isoformat(timespec="seconds"),
                                            "requete": _request_dict(p.request)}, ensure_ascii=False),
        "observatoire:attribution": attribution(p),
        "observatoire:sources": json.dumps(p.sources, ensure_ascii=False),
        "observatoire:dictionnaire": json.dumps(dictionary(p).to_dicts(), ensure_ascii=False),
    }


def _request_dict(r: Request) -> dict[str, Any]:
    return {"niveau": r.niveau, "codes": list(r.codes), "parent": r.parent, "indicateurs": list(r.indicateurs),
            "periodes": list(r.periodes), "layout": r.layout, "format": r.format}


# -- writers -----------------------------------------------------------------------------------

def neutralise(df: pl.DataFrame) -> pl.DataFrame:
    """Prefix with ' the text cells a spreadsheet would run as a formula; numbers stay numbers."""
    text = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns([
        pl.when(pl.col(c).str.contains(DANGEROUS.pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    ])


def _write_csv(p: Plan, fh: IO[bytes]) -> None:
    french = p.request.format == "csv-fr"
    opts: dict[str, Any] = {"separator": ";" if french else ",", "decimal_comma": french, "float_scientific": False}
    first = True
    for b in batches(p):
        neutralise(b).write_csv(fh, include_header=first, include_bom=french and first, **opts)
        first = False
    if first:
        empty_frame(p).write_csv(fh, include_bom=french, **opts)


def _write_parquet(p: Plan, fh: IO[bytes]) -> None:
    import pyarrow.parquet as pq

    schema = empty_frame(p).to_arrow().schema
    schema = schema.with_metadata({k.encode(): v.encode() for k, v in metadata(p).items()})
    with pq.ParquetWriter(fh, schema, compression="zstd") as writer:
        for b in batches(p):
            table = b.to_arrow()
            if not table.schema.equals(schema, check_metadata=False):
                table = table.cast(schema.remove_metadata())
            writer.write_table(table)


def _write_geojson(p: Plan, fh: IO[bytes]) -> None:
    out = io.TextIOWrapper(fh, encoding="utf-8", newline="\n", write_through=False)
    head = {"type": "FeatureCollection", "name": Path(p.filename).stem, "attribution": attribution(p),
            "description": p.describe(), "sources": p.sources, "dictionnaire": dictionary(p).to_dicts()}
    text = json.dumps(head, ensure_ascii=False)
    out.write(text[:-1] + ', "features": [\n')
    geo_path = p.data_dir / "geo" / f"{LEVEL_PLURAL[p.niveau]}.parquet"
    geo = pl.scan_parquet(geo_path).select("code", "geometry") if geo_path.exists() else None
    first = True
    for b in batches(p):
        shapes: dict[str, str] = {}
        if geo is not None:
            shapes = dict(geo.filter(pl.col("code").is_in(b["code"].to_list())).collect().iter_rows())
        for props in b.iter_rows(named=True):
            feature = (f'{{"type": "Feature", "id": {json.dumps(props["code"])}, '
                       f'"geometry": {shapes.get(props["code"], "null")}, '
                       f'"properties": {json.dumps(props, ensure_ascii=False, allow_nan=False)}}}')
            out.write(("" if first else ",\n") + feature)
            first = False
    out.write("\n]}\n")
    out.flush()
    out.detach()


def _write_xlsx(p: Plan, fh: IO[bytes] | str) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(fh, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                  "strings_to_numbers": False})
    wb.set_properties({"title": f"Extrait : {p.scope}", "subject": p.describe(), "author":
                       "Observatoire de l'économie collaborative", "comments": attribution(p)})
    header = wb.add_format({"bold": True, "bg_color": "#E3E3FD", "border": 1, "text_wrap": True,
                            "valign": "top"})
    quoted = wb.add_format({"quote_prefix": True})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    names = [c.name for c in p.columns]
    numeric = [c.numeric for c in p.columns]
    widths = [8 if n == "niveau" else 11 if n == "code" else 30 if n in ("nom", "libelle") else
              12 if numeric[i] else 14 for i, n in enumerate(names)]

    def new_sheet(k: int):
        ws = wb.add_worksheet("données" if k == 1 else f"données ({k})")
        for i, w in enumerate(widths):
            ws.set_column(i, i, w)
        ws.freeze_panes(1, 3 if p.request.layout == "wide" else 0)
        for i, n in enumerate(names):
            ws.write_string(0, i, n, header)
        return ws

    sheet_no, ws, r = 1, new_sheet(1), 0
    for b in batches(p):
        for row in b.iter_rows():
            r += 1
            if r >= XLSX_MAX_ROWS:
                ws.autofilter(0, 0, r - 1, len(names) - 1)
                sheet_no += 1
                ws, r = new_sheet(sheet_no), 1
            for i, v in enumerate(row):
                if v is None:
                    continue
                if numeric[i]:
                    ws.write_number(r, i, v)
                elif DANGEROUS.match(v):
                    ws.write_string(r, i, v, quoted)
                else:
                    ws.write_string(r, i, v)
    ws.autofilter(0, 0, max(r, 1), len(names) - 1)

    def table_sheet(title: str, df: pl.DataFrame, headers: list[str], col_widths: list[int]) -> None:
        sh = wb.add_worksheet(title)
        for i, w in enumerate(col_widths):
            sh.set_column(i, i, w, wrap if w >= 40 else None)
        sh.freeze_panes(1, 1)
        for i, h in enumerate(headers):
            sh.write_string(0, i, h, header)
        for n, row in enumerate(df.iter_rows(), start=1):
            for i, v in enumerate(row):
                if v:
                    sh.write_string(n, i, v, quoted if DANGEROUS.match(v) else None)
        sh.autofilter(0, 0, max(df.height, 1), len(headers) - 1)

    d = dictionary(p)
    table_sheet("dictionnaire", d, ["colonne", "libellé", "unité", "définition", "indicateur", "période", "source",
                                    "nature", "famille", "domaine", "licence"],
                [34, 36, 12, 60, 24, 14, 16, 12, 12, 14, 20])
    table_sheet("sources", sources_table(p), list(SOURCES_HEADERS.values()),
                [16, 24, 40, 26, 20, 24, 16, 10, 50, 50, 30, 30, 30])
    wb.close()


WRITERS = {"csv-fr": _write_csv, "csv": _write_csv, "parquet": _write_parquet, "geojson": _write_geojson,
           "xlsx": _write_xlsx}


def write(p: Plan, out: Path | IO[bytes]) -> list[Path]:
    """Write the extract to a file (atomically) or a binary stream; return the files written.

    Beside a CSV file goes `<nom>_sources.txt` (UTF-8 with BOM): what the file holds, the
    attributions, the sources and the dictionary. A CSV written to a stream has no companion:
    the caller offers `sources_text(plan)` itself (the page shows a second button).
    """
    writer = WRITERS[p.request.format]
    if not isinstance(out, (str, Path)):
        writer(p, out)
        return []
    path = Path(out)
    written = [path]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(p, fh)
    if p.request.format in ("csv", "csv-fr"):
        companion = companion_path(path)
        with atomic_path(companion) as tmp:
            tmp.write_text("\ufeff" + sources_text(p), encoding="utf-8")
        written.append(companion)
    return written


def companion_path(path: Path) -> Path:
    """`extrait.csv` -> `extrait_sources.txt`."""
    return Path(path).with_name(f"{Path(path).stem}_sources.txt")


def to_bytes(p: Plan) -> bytes:
    """The whole file in memory (for a download button: extracts of a page-sized selection)."""
    buf = io.BytesIO()
    write(p, buf)
    return buf.getvalue()


def _slug(text: str) -> str:
    t = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9_]+", "-", t).strip("-")
