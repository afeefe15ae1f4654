"""Former commune codes and the commune that holds each today (COG 2026).

Two formats are read:
- the mirror's table `code_ancien;code_2026` (one line per former code);
- INSEE's movements file `v_mvt_commune_2026.csv` (one line per event since 1943: MOD,
  DATE_EFF, TYPECOM_AV, COM_AV, ..., TYPECOM_AP, COM_AP, ...), from which the same table is
  derived: each code points to the commune (TYPECOM "COM") it went into at its latest event,
  and chains (A merged into B, B later into C) are followed to today's commune.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import polars as pl

from etl.cog import COMMUNE_CODE_RE
from etl.formats import AnyOf, CsvFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError
from etl.sources.insee_logement import read_csv_bytes

MVT_COLUMNS = ("MOD", "DATE_EFF", "TYPECOM_AV", "COM_AV", "TYPECOM_AP", "COM_AP")
PASSAGE_COLUMNS = ("code_ancien", "code_2026")
#: Either INSEE's movements file (live) or the passage table (mirror); separator ";" or ",".
FORMAT = AnyOf((CsvFormat(MVT_COLUMNS, separator=None), CsvFormat(PASSAGE_COLUMNS, separator=None)))
#: INSEE movement codes: mergers (31-34) and code changes (41: change of département,
#: 50: transfer of the chief town) move a code to another; 20/21 create or re-create one.
MERGE_MODS = {"31", "32", "33", "34", "41", "50"}
RECREATE_MODS = {"20", "21"}


def passage_from_movements(mvt: pl.DataFrame) -> tuple[pl.DataFrame, Counter]:
    """Derive `code_ancien -> code_actuel` from INSEE's movements table."""
    events = mvt.filter(pl.col("TYPECOM_AP") == "COM").sort("DATE_EFF", "MOD")
    latest: dict[str, str] = {}
    for mod, old, typ_av, new in events.select("MOD", "COM_AV", "TYPECOM_AV", "COM_AP").iter_rows():
        if mod in MERGE_MODS and typ_av in ("COM", "COMA", "COMD") and old != new:
            latest[old] = new  # the last event of a code wins
        elif mod in RECREATE_MODS:
            latest.pop(new, None)  # a commune created or re-created: its code is current again
    rejected = Counter()
    rows = []
    for old in sorted(latest):
        target, seen = latest[old], {old}
        while target in latest and target not in seen:
            seen.add(target)
            target = latest[target]
        if target in seen:  # A -> B -> A: a merger undone later; the code is current again
            rejected["chaîne de codes circulaire (commune rétablie)"] += 1
            continue
        rows.append((old, target))
    return pl.DataFrame(rows, schema={"code_ancien": pl.String, "code_actuel": pl.String}, orient="row"), rejected


class CogPassage(Source):
    name = "cog_passage"
    title = "Table de passage des anciens codes commune vers le COG 2026"
    publisher = "Insee (Code officiel géographique)"
    homepage = "https://www.insee.fr/fr/information/8740222"
    licence = "Licence Ouverte 2.0"
    attribution = "Insee, Code officiel géographique 2026"
    vintage = "COG 2026"
    min_rows = 1_000
    provenance = "Fichier de l'éditeur (insee.fr) : les mouvements des communes du COG 2026."
    formats = FORMAT
    resources_ = (
        Resource(
            "main",
            "https://www.insee.fr/fr/statistiques/fichier/8740222/v_mvt_commune_2026.csv",
            "cog-passage/passage-codes-communes-cog2026.csv",
            filename="v_mvt_commune_2026.csv",
        ),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        raw_bytes = read_csv_bytes(files["main"])
        head = raw_bytes[:2000].decode("utf-8", errors="replace").splitlines()[0] if raw_bytes else ""
        separator = ";" if head.count(";") > head.count(",") else ","
        raw = pl.read_csv(io.BytesIO(raw_bytes), separator=separator, infer_schema=False)
        rejected = Counter()
        if set(PASSAGE_COLUMNS) <= set(raw.columns):
            df = raw.select(pl.col("code_ancien").str.strip_chars(), pl.col("code_2026").str.strip_chars().alias("code_actuel"))
        elif set(MVT_COLUMNS) <= set(raw.columns):
            df, rejected = passage_from_movements(raw)
        else:
            raise SourceError(
                f"{self.name}: colonnes inattendues ({', '.join(raw.columns[:6])}) : "
                "ni code_ancien;code_2026, ni le fichier des mouvements de l'Insee"
            )
        ok = pl.col("code_ancien").fill_null("").str.contains(COMMUNE_CODE_RE) & pl.col("code_actuel").fill_null(
            ""
        ).str.contains(COMMUNE_CODE_RE)
        rejected["code mal formé"] += df.filter(~ok).height
        df = df.filter(ok)
        dupes = df.height - df["code_ancien"].n_unique()
        if dupes:
            rejected["ancien code en double"] += dupes
            df = df.unique("code_ancien", keep="last")
        return Parsed({"main": df.sort("code_ancien")}, rows_read=raw.height, rejected=+rejected)


SOURCE = CogPassage()
