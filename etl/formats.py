"""What each source's files must look like: one declaration, read by the parser and by `check-live`.

A source module declares, per file, the columns (CSV) or fields (JSON records, GeoJSON
properties) its parser requires. The parser refuses a file that lacks one, naming it; `python -m
etl check-live` reads only the first kilobytes of the live file and compares them with the same
list, so that a publisher's change of format is seen before a real refresh, not during it.

A verdict says what is missing and what is new. New columns are harmless when the parser reads
columns by name (they are listed, the file is still accepted); they break a parser that needs the
exact layout (`exact=True`, the carpool registry's 27 positional fields).
"""

from __future__ import annotations

import csv
import json
import zipfile
import zlib
from dataclasses import dataclass
from typing import Protocol

#: How much of a file `check-live` reads (compressed bytes): enough for a header line or a few records.
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Verdict:
    """The result of comparing a file's head with its declared format."""

    missing: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    #: new columns the parser cannot take (a positional layout)
    breaking: bool = False
    #: the head could not be read as this format at all (not JSON, no header line...)
    problem: str | None = None
    noun: str = "colonne"

    @property
    def ok(self) -> bool:
        return not self.missing and self.problem is None and not (self.breaking and self.new)

    def describe(self) -> str:
        """"colonne(s) manquante(s) : X ; nouvelle(s) colonne(s) : Y" (empty when nothing to say)."""
        e, new = ("", "nouveau(x)") if self.noun == "champ" else ("e", "nouvelle(s)")
        parts = []
        if self.problem:
            parts.append(self.problem)
        if self.missing:
            parts.append(f"{self.noun}(s) manquant{e}(s) : {', '.join(self.missing)}")
        if self.new:
            suffix = "" if self.breaking else f" (ignoré{e}(s) à la lecture)"
            parts.append(f"{new} {self.noun}(s) : {', '.join(self.new)}{suffix}")
        return " ; ".join(parts)


class FileFormat(Protocol):
    """What `check-live` needs from a format: a verdict on the (decompressed) first bytes of a file."""

    def check_head(self, head: bytes) -> Verdict: ...


def _compare(present: list[str], required: tuple[str, ...], known: tuple[str, ...] | None, *, exact: bool = False,
             noun: str = "colonne") -> Verdict:
    missing = tuple(c for c in required if c not in present)
    new: tuple[str, ...] = ()
    if known is not None or exact:
        expected = set(required) | set(known or ())
        new = tuple(c for c in present if c not in expected)
    if exact and not missing and not new and tuple(present) != tuple(required):
        return Verdict(problem=f"{noun}s dans un autre ordre", noun=noun)
    return Verdict(missing=missing, new=new, breaking=exact, noun=noun)


def _text(head: bytes) -> str:
    text = head.decode("utf-8", errors="replace")
    return text.lstrip("\ufeff")


@dataclass(frozen=True)
class CsvFormat:
    """A delimited text file with a header line."""

    required: tuple[str, ...]
    #: None: ";" or ",", whichever the header line holds more of (as the parser decides)
    separator: str | None = ","
    #: the other columns the parser knows; None: not listed (new columns are then not reported)
    known: tuple[str, ...] | None = None
    #: the parser needs exactly `required`, in this order
    exact: bool = False

    def header(self, head: bytes) -> list[str] | None:
        """The column names of the header line, unquoted and trimmed; None without a complete line."""
        text = _text(head)
        end = text.find("\n")
        if end < 0:
            return None
        line = text[:end].rstrip("\r")
        sep = self.separator or (";" if line.count(";") > line.count(",") else ",")
        row = next(csv.reader([line], delimiter=sep), [])
        return [c.strip().strip('"').strip() for c in row]

    def check_head(self, head: bytes) -> Verdict:
        columns = self.header(head)
        if columns is None:
            return Verdict(problem="pas de ligne d'en-tête complète au début du fichier")
        return _compare(columns, self.required, self.known, exact=self.exact)


def _records(text: str, start: int) -> tuple[list[dict], bool]:
    """The complete JSON objects of a list that starts at `start` (a head may cut the last one)."""
    decoder = json.JSONDecoder()
    out: list[dict] = []
    i, n = start, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            break
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return out, True  # cut by the end of the head
        if isinstance(obj, dict):
            out.append(obj)
    return out, False


@dataclass(frozen=True)
class JsonRecordsFormat:
    """A JSON list of objects (geo.api.gouv.fr, the incentive campaigns)."""

    required: tuple[str, ...]
    known: tuple[str, ...] | None = None

    def check_head(self, head: bytes) -> Verdict:
        text = _text(head).lstrip()
        if not text.startswith("["):
            return Verdict(problem="une liste d'objets JSON était attendue", noun="champ")
        records, _ = _records(text, 1)
        if not records:
            return Verdict(problem="aucun objet JSON complet au début du fichier", noun="champ")
        present = sorted(set().union(*(r.keys() for r in records)))
        return _compare(present, self.required, self.known, noun="champ")


@dataclass(frozen=True)
class GeoJsonFormat:
    """A GeoJSON FeatureCollection whose features carry `required` properties."""

    required: tuple[str, ...]
    known: tuple[str, ...] | None = None

    def check_head(self, head: bytes) -> Verdict:
        text = _text(head)
        key = text.find('"features"')
        start = text.find("[", key) if key >= 0 else -1
        if '"FeatureCollection"' not in text[: max(key, 0) + 200] or start < 0:
            return Verdict(problem="une FeatureCollection GeoJSON était attendue", noun="propriété")
        features, _ = _records(text, start + 1)
        if not features:
            return Verdict(problem="aucune entité complète au début du fichier", noun="propriété")
        present = sorted(set().union(*((f.get("properties") or {}).keys() for f in features)))
        return _compare(present, self.required, self.known, noun="propriété")


@dataclass(frozen=True)
class AnyOf:
    """A file the parser accepts in one of several shapes (the first that fits)."""

    formats: tuple[FileFormat, ...]

    def check_head(self, head: bytes) -> Verdict:
        verdicts = [f.check_head(head) for f in self.formats]
        return next((v for v in verdicts if v.ok), min(verdicts, key=lambda v: (v.problem is not None, len(v.missing))))


def decompress_head(data: bytes) -> bytes:
    """The first bytes of a file as text bytes: a gzip head is inflated as far as it goes."""
    if data[:2] == b"\x1f\x8b":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    return data


def zip_data_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    """The data CSV of an archive: the largest `.csv` that is not a metadata file.

    The parsers (BPE, housing census) and `check-live` pick the same member with it.
    """
    csvs = [m for m in members if m.filename.lower().endswith(".csv")]
    data = [m for m in csvs if "metadata" not in m.filename.lower()]
    if not data:
        raise ValueError("aucun fichier de données CSV dans l'archive")
    return max(data, key=lambda m: m.file_size)
