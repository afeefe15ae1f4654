"""Hand-made registry (RPC) files for the tests: a few journeys whose aggregates are counted by hand.

`JOURNEYS` (valid rows, March 2024), with real codes of the COG 2026:

    id  car  from                    to                      seats  km  incentive  hour
    j1  A    33063 Bordeaux          33281 Mérignac          1      12  OUI        7
    j2  A    33063 Bordeaux          33281 Mérignac          2       8  OUI        7
    j3  B    33063 Bordeaux          33063 Bordeaux          1       5  NON        8
    j4  C    33281 Mérignac          33243 Libourne          1      45  NON        17
    j5  D    75101 Paris 1er         75115 Paris 15e         1       6  OUI        18
    j6  E    01003 (former, today    XXXXX (Suisse)          1      60  NON        6
             01165 Francheleins)
    j7  F    00000 (unknown code)    33063 Bordeaux          1       3  NON        9

Bordeaux and Mérignac are in Bordeaux Métropole (243300316), Libourne in the CA du Libournais
(200070092): all three in Gironde (33), Nouvelle-Aquitaine (75). `MALFORMED` rows are rejected
by the parser, each for one reason.
"""

from __future__ import annotations

from pathlib import Path

from etl.sources.rpc import COLUMNS

PLACES = {
    "33063": ("33", "Bordeaux", "Bordeaux Métropole", "France", "-0.579", "44.837"),
    "33281": ("33", "Mérignac", "Bordeaux Métropole", "France", "-0.646", "44.842"),
    "33243": ("33", "Libourne", "CA du Libournais", "France", "-0.24", "44.91"),
    "75101": ("75", "Paris 1er Arrondissement", "Métropole du Grand Paris", "France", "2.336", "48.862"),
    "75115": ("75", "Paris 15e Arrondissement", "Métropole du Grand Paris", "France", "2.292", "48.840"),
    "01003": ("01", "Amareins", "CC Val de Saône Centre", "France", "4.80", "46.08"),
    "XXXXX": ("", "", "", "Suisse", "6.14", "46.20"),
    "00000": ("00", "Nulle part", "", "France", "0.00", "45.00"),
}

#: journey_id, trip_id, start, end, seats, metres, incentive, hour
JOURNEYS = [
    ("j1", "A", "33063", "33281", 1, 12_000, "OUI", 7),
    ("j2", "A", "33063", "33281", 2, 8_000, "OUI", 7),
    ("j3", "B", "33063", "33063", 1, 5_000, "NON", 8),
    ("j4", "C", "33281", "33243", 1, 45_000, "NON", 17),
    ("j5", "D", "75101", "75115", 1, 6_000, "OUI", 18),
    ("j6", "E", "01003", "XXXXX", 1, 60_000, "NON", 6),
    ("j7", "F", "00000", "33063", 1, 3_000, "NON", 9),
]


def line(jid: str, trip: str, start: str, end: str, seats: object, metres: object, incentive: str, hour: int,
         *, quoted_numbers: bool = True, day: int = 5) -> str:
    """One row of a monthly file, quoted as in the files up to 2025 (or unquoted numbers, from 2026)."""
    def q(value: object) -> str:
        return '"' + str(value).replace('"', '""') + '"'

    def n(value: object) -> str:
        return q(value) if quoted_numbers else str(value)

    date = f"2024-03-{day:02d}"
    time = f"{hour:02d}:00:00"
    s, e = PLACES.get(start, PLACES["33063"]), PLACES.get(end, PLACES["33063"])
    fields = [
        n(jid), q(trip), q(f"{date}T{time}+0100"), q(date), q(time), n(s[4]), n(s[5]), q(start), q(s[0]), q(s[1]),
        q(s[2]), q(s[3]), q(f"{date}T{hour:02d}:30:00+0100"), q(date), q(f"{hour:02d}:30:00"), n(e[4]), n(e[5]), q(end),
        q(e[0]), q(e[1]), q(e[2]), q(e[3]), str(seats), q("C"), str(metres), n(30), q(incentive),
    ]
    assert len(fields) == len(COLUMNS)
    return ";".join(fields)


def header() -> str:
    return ";".join(f'"{c}"' for c in COLUMNS)


#: Rows the parser must reject, with the reason it gives.
MALFORMED = [
    (line("m1", "G", "33063", "33281", "x", 1_000, "OUI", 7), "nombre de passagers invalide"),
    (line("m2", "G", "33063", "33281", 1, 1_000, "OUI", 7).rsplit(";", 1)[0], "nombre de champs différent de 27"),
    (line("m3", "G", "3306", "33281", 1, 1_000, "OUI", 7), "code commune de départ ou d'arrivée mal formé"),
    (line("m4", "G", "33063", "33281", 1, "-5", "OUI", 7), "distance invalide"),
    (line("m5", "G", "33063", "33281", 1, 1_000, "PEUT-ÊTRE", 7), "indicateur d'incitation ni OUI ni NON"),
    (line("j1", "A", "33063", "33281", 1, 12_000, "OUI", 7), "identifiant de trajet en double"),
]


def write(path: Path, rows: list[str], *, gzip_it: bool = False) -> Path:
    text = "\n".join([header(), *rows]) + "\n"
    if gzip_it:
        import gzip

        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def hand_made(path: Path, *, quoted_numbers: bool = True, malformed: bool = True, gzip_it: bool = False) -> Path:
    """The journeys above (and the malformed rows) in one file."""
    rows = [line(*j, quoted_numbers=quoted_numbers) for j in JOURNEYS]
    if malformed:
        rows += [r for r, _ in MALFORMED]
    return write(path, rows, gzip_it=gzip_it)
