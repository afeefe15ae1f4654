"""Company register alternative: active Sirene establishments of NAF 49.32Z (taxis and VTC).

Live only (`mirror_optional`), chosen with `--vtc-source sirene`; `--sirene-departements 33,75`
limits the download to some départements (each file is tens of megabytes). Etalab's geolocated
Sirene stock, one gzipped CSV per département:
`https://files.data.gouv.fr/geo-sirene/last/dep/geo_siret_<dep>.csv.gz`, `,`-separated, quoted
where needed, the columns of INSEE's StockEtablissement (`siren`, `nic`, `siret`, ...,
`codeCommuneEtablissement`, ..., `etatAdministratifEtablissement`, ...,
`activitePrincipaleEtablissement`, ...) followed by `longitude, latitude, geo_score, geo_type,
geo_adresse, geo_id, geo_ligne, geo_l4, geo_l5`.

Paris has no `75` file: it is published as one file per arrondissement, `geo_siret_75101` ...
`geo_siret_75120`; the overseas départements have theirs (971 to 974, 976). Confirmed in the
publisher's own loading scripts (`etalab/annuaire-entreprises-sirene-api`,
`db/init/10-get-last-siret-data.sh`: "Cas particulier Paris", and `40-populate-siret.sh` for the
57 columns); sample: `tests/samples/live/`. Asking for département 75 reads the 20 files, and the
coverage table names the département ("75"), as the mart expects.

Only four columns are read (commune, state, activity, last processing date): no name or address
of the (often one-person) companies enters the ETL. Counts per commune code (Paris, Lyon and
Marseille by arrondissement), and the month of the stock (latest processing date).
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from etl.cog import COMMUNE_CODE_RE
from etl.formats import CsvFormat
from etl.sources.base import FetchContext, OptionError, Parsed, Resource, Source, SourceError, require_columns
from etl.store import temp_dir_prefix

BASE = "https://files.data.gouv.fr/geo-sirene/last/dep"
NAF = "49.32Z"
COLUMNS = ("codeCommuneEtablissement", "etatAdministratifEtablissement", "activitePrincipaleEtablissement",
           "dateDernierTraitementEtablissement")
FORMAT = CsvFormat(COLUMNS)
DEPARTEMENTS = (
    [f"{i:02d}" for i in range(1, 20)] + ["2A", "2B"] + [f"{i:02d}" for i in range(21, 96)]
    + ["971", "972", "973", "974", "976"]
)
#: Départements published as several files: Paris, one file per arrondissement.
SPLIT = {"75": [f"751{i:02d}" for i in range(1, 21)]}


def departements(options: dict[str, Any]) -> list[str]:
    """The départements to read: `sirene_departements` ("33,75") or all 101."""
    asked = options.get("sirene_departements")
    if not asked:
        return list(DEPARTEMENTS)
    chosen = [d.strip().upper().zfill(2) for d in str(asked).split(",") if d.strip()]
    unknown = [d for d in chosen if d not in DEPARTEMENTS]
    if unknown:
        raise OptionError(f"sirene_vtc: département(s) inconnu(s) : {', '.join(unknown)}")
    return chosen


def file_codes(departement: str) -> list[str]:
    """The codes of the files of a département: itself, or Paris's 20 arrondissements (75101 ... 75120)."""
    return SPLIT.get(departement, [departement])


def departement_of(file_code: str) -> str:
    """The département of a file code ("75108" -> "75", "33" -> "33")."""
    return next((d for d, codes in SPLIT.items() if file_code in codes), file_code)


def read_vtc_establishments(path: Path, source: str = "sirene_vtc") -> tuple[pl.DataFrame, int, str | None]:
    """Active 49.32Z establishments of one geo-sirene file: (`code_commune`, `etablissements`), rows, month."""
    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix("sirene")) as tmp:
        csv_path = Path(path)
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        if gzipped:  # decompress as a stream, then scan lazily: a département can be 1 GB of text
            csv_path = Path(tmp) / "geo_siret.csv"
            with gzip.open(path, "rb") as src, open(csv_path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        lf = pl.scan_csv(csv_path, separator=",", infer_schema=False)
        require_columns(lf.collect_schema().names(), FORMAT.required, source=source, what=Path(path).name)
        lf = lf.select(FORMAT.required)
        total, counts, last = pl.collect_all([
            lf.select(pl.len()),
            lf.filter((pl.col("etatAdministratifEtablissement") == "A")
                      & (pl.col("activitePrincipaleEtablissement").str.replace(".", "", literal=True) == "4932Z"))
            .group_by(pl.col("codeCommuneEtablissement").str.strip_chars().alias("code_commune"))
            .agg(pl.len().alias("etablissements")),
            lf.select(pl.col("dateDernierTraitementEtablissement").str.slice(0, 7).max()),
        ])
    return counts, total.item(), last.item()


class SireneVtc(Source):
    name = "sirene_vtc"
    title = "Répertoire Sirene géolocalisé : établissements actifs de taxi et VTC (NAF 49.32Z)"
    publisher = "Insee (répertoire Sirene), géolocalisation Etalab"
    homepage = "https://www.data.gouv.fr/fr/datasets/base-sirene-des-etablissements-siret-geolocalisee-avec-la-base-dadresse-nationale-ban/"
    licence = "Licence Ouverte 2.0"
    attribution = "Insee, base Sirene des entreprises et de leurs établissements ; géolocalisation Etalab"
    vintage = "stock du mois (dernier fichier publié)"
    mirror_optional = True
    scope_option = "sirene_departements"  # the drop check compares runs over the same départements
    provenance = ("Fichiers de l'éditeur (stock Sirene géolocalisé par Etalab, files.data.gouv.fr), un par "
                  "département ; Paris en 20 fichiers, un par arrondissement (75101 à 75120).")
    formats = FORMAT
    #: the pattern, for `python -m etl list`; `resources` lists the files of the run
    resources_ = (Resource("dep", f"{BASE}/geo_siret_{{dep}}.csv.gz", "vtc/geo_siret_{dep}.csv.gz"),)

    def resources(self, ctx: FetchContext) -> list[Resource]:
        return [Resource(f"dep_{code}", f"{BASE}/geo_siret_{code}.csv.gz", f"vtc/geo_siret_{code}.csv.gz")
                for d in departements(ctx.options) for code in file_codes(d)]

    def selected(self, options: dict[str, Any]) -> bool:
        return options.get("vtc_source") == "sirene"

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        frames, months, rows = [], [], 0
        for key in sorted(files):
            counts, total, month = read_vtc_establishments(files[key], self.name)
            if total == 0:
                raise SourceError(f"{self.name}: fichier vide ({key})")
            rows += total
            months.append(month)
            frames.append(counts)
        rejected: Counter = Counter()
        counts = pl.concat(frames).group_by("code_commune").agg(pl.col("etablissements").sum())
        bad = ~pl.col("code_commune").fill_null("").str.contains(COMMUNE_CODE_RE)
        rejected["établissements sans code commune valide"] = int(counts.filter(bad)["etablissements"].sum())
        counts = counts.filter(~bad).sort("code_commune")
        period = max((m for m in months if m), default=None)
        if period is None or not re.fullmatch(r"\d{4}-\d{2}", period):
            raise SourceError(f"{self.name}: date du stock introuvable (dateDernierTraitementEtablissement vide)")
        deps = sorted({departement_of(k.removeprefix("dep_")) for k in files})
        missing = {d: [c for c in file_codes(d) if f"dep_{c}" not in files] for d in deps}
        partial = {d: codes for d, codes in missing.items() if codes}
        if partial:  # a département counted from part of its files would look complete
            raise SourceError(f"{self.name}: fichiers manquants pour le(s) département(s) "
                              + " ; ".join(f"{d} : {', '.join(c)}" for d, c in partial.items()))
        meta = pl.DataFrame({"departement": deps}).with_columns(periode=pl.lit(period, dtype=pl.String))
        notes = [f"{int(counts['etablissements'].sum())} établissements actifs 49.32Z dans {len(deps)} département(s) ;"
                 f" stock de {period}"]
        return Parsed({"main": counts, "couverture": meta}, rows_read=rows, rejected=+rejected, notes=notes)


SOURCE = SireneVtc()
