"""Whole-France extract: time and peak memory per format, streamed vs. held in memory.

    python benchmarks/bench_export.py              # the embedded data, then the same ×10
    python benchmarks/bench_export.py --scale 1    # the embedded data only
    python benchmarks/bench_export.py --scale 1 5 --formats csv-fr parquet

Every measure runs in a fresh process (peak resident memory is a process's high-water mark):
all communes, all indicators, all periods, written by `etl.export`. Two baselines in the same
script give the figures their meaning:

- `import`: the process after importing polars, pyarrow and xlsxwriter and reading the small
  reference tables, before any extract (the floor every extract pays);
- `en mémoire`: the naive way, every selected row joined and held in one frame, then written
  (`write_csv`, `write_parquet`, polars `write_excel`): what streaming by chunks saves;
- for the CSV, three whole-file lazy queries sunk with `sink_csv`: sorted by territory (what
  an extract sorted in one query costs: the sort holds every row), unsorted (streams, but the
  rows come in file order), and only the files' own columns (no join to names): the floor.

CPU is each child's user + system time (`getrusage`, robust to the machine's load), after its
imports; memory is its `VmHWM` above the `import` baseline.

`--scale N` copies the marts to a temporary folder and repeats every indicator row N times
under N synthetic indicator ids (`population_x3`...), so that the extract grows N-fold while
the territories stay the same: memory that stays flat as N grows is memory that streams. The
synthetic folder is a benchmark device only; nothing of it is ever written to `data/`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [("csv-fr", "long"), ("csv", "long"), ("xlsx", "long"), ("parquet", "long"), ("geojson", "wide"),
         ("csv-fr", "wide"), ("xlsx", "wide"), ("parquet", "wide")]

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    import polars as pl, pyarrow, xlsxwriter
    from etl import export
    data, fmt, layout, out, mode = sys.argv[1:6]

    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    rows = 0
    if mode == "import":
        pl.read_parquet(Path(data) / "territoires.parquet"); pl.read_parquet(Path(data) / "catalogue.parquet")
    elif mode in ("sort", "sink", "projected"):  # whole-file lazy pipelines, the alternatives to batches
        scan = pl.scan_parquet(sorted((Path(data) / "indicateurs").glob("*.parquet"))).filter(
            pl.col("niveau") == "commune")
        if mode != "projected":
            names = pl.scan_parquet(Path(data) / "territoires.parquet").filter(
                pl.col("niveau") == "commune").select("code", "nom")
            cat = pl.scan_parquet(Path(data) / "catalogue.parquet").select("indicateur", "libelle", "unite")
            scan = scan.join(names, on="code", how="left").join(cat, on="indicateur", how="left")
        if mode == "sort":
            scan = scan.sort("code", "indicateur", "periode", "source")
        scan.sink_csv(out, separator=";")
        rows = pl.scan_csv(out, separator=";").select(pl.len()).collect().item()
    elif mode == "stream":
        plan = export.plan(export.Request("commune", layout=layout, format=fmt), Path(data))
        export.write(plan, Path(out))
        rows = plan.output_rows
    else:  # everything in one frame, then written
        plan = export.plan(export.Request("commune", layout=layout, format=fmt), Path(data))
        df = pl.concat(list(export.batches(plan)))
        rows = df.height
        if fmt == "parquet":
            df.write_parquet(out)
        elif fmt == "xlsx":
            df.write_excel(out, worksheet="données")
        else:
            df.write_csv(out, separator=";" if fmt == "csv-fr" else ",", decimal_comma=fmt == "csv-fr")
    seconds, cpu_s = time.perf_counter() - t0, cpu() - c0
    # VmHWM: this process's high-water mark (ru_maxrss would inherit the parent's across fork/exec)
    peak = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
    size = Path(out).stat().st_size if Path(out).exists() else 0
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "peak_mb": peak, "rows": rows, "bytes": size}))
""")


def measure(data: Path, fmt: str, layout: str, mode: str, tmp: Path) -> dict:
    out = tmp / f"out_{mode}_{layout}.{fmt}"
    res = subprocess.run([sys.executable, "-c", CHILD, str(data), fmt, layout, str(out), mode], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    for p in tmp.glob("out_*"):
        p.unlink()
    return json.loads(res.stdout.strip().splitlines()[-1])


def scaled_marts(src: Path, n: int, dst: Path) -> Path:
    """The marts with every indicator row repeated under `n` synthetic ids (benchmark only)."""
    import polars as pl

    from etl.indicators import conform

    if n == 1:
        return src
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("raw", "indicateurs"))
    (dst / "indicateurs").mkdir()
    cat = pl.read_parquet(src / "catalogue.parquet")
    copies = [cat] + [cat.with_columns(indicateur=pl.col("indicateur") + f"_x{k}") for k in range(1, n)]
    pl.concat(copies).write_parquet(dst / "catalogue.parquet")
    for f in sorted((src / "indicateurs").glob("*.parquet")):
        rows = pl.read_parquet(f)
        grown = pl.concat([rows] + [rows.with_columns(indicateur=pl.col("indicateur") + f"_x{k}") for k in range(1, n)])
        conform(grown).write_parquet(dst / "indicateurs" / f.name, compression="zstd", statistics=True)
    return dst


def main() -> None:
    from etl.config import data_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--formats", nargs="+", default=None, help="csv-fr csv xlsx parquet geojson")
    args = ap.parse_args()
    cases = [c for c in CASES if args.formats is None or c[0] in args.formats]
    with tempfile.TemporaryDirectory(prefix="bench_export_") as t:
        tmp = Path(t)
        base = measure(data_dir(), "csv", "long", "import", tmp)
        print(f"import (polars, pyarrow, xlsxwriter, reference tables): {base['peak_mb']:.0f} Mo de mémoire au plus")
        print()
        print("| × | format | disposition | lignes | fichier | flux : CPU s | durée s | +Mo | en mémoire : CPU s | "
              "durée s | +Mo |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.scale:
            data = scaled_marts(data_dir(), n, tmp / f"x{n}")
            for fmt, layout in cases:
                s = measure(data, fmt, layout, "stream", tmp)
                line = (f"| {n} | {fmt} | {layout} | {s['rows']:,} | {s['bytes'] / 2**20:,.1f} Mo | {s['cpu_s']:.1f} | "
                        f"{s['seconds']:.1f} | {s['peak_mb'] - base['peak_mb']:,.0f} |").replace(",", " ")
                if fmt == "xlsx" and s["rows"] >= 1_048_576:
                    line += " impossible (plus de 1 048 576 lignes pour une feuille) | | |"
                elif fmt != "geojson":
                    m = measure(data, fmt, layout, "naive", tmp)
                    line += f" {m['cpu_s']:.1f} | {m['seconds']:.1f} | {m['peak_mb'] - base['peak_mb']:,.0f} |".replace(
                        ",", " ")
                else:
                    line += " | | |"
                print(line, flush=True)
            if args.formats is None or "csv-fr" in args.formats:
                # the whole-file alternatives of the issue: one lazy query sunk to CSV, sorted or not
                for mode, label in (("sort", "requête entière triée puis écrite (sink_csv)"),
                                    ("sink", "requête entière non triée, écrite en flux"),
                                    ("projected", "colonnes des fichiers seulement, en flux")):
                    r = measure(data, "csv", "long", mode, tmp)
                    figures = (f"{r['rows']:,} | {r['bytes'] / 2**20:,.1f} Mo | {r['cpu_s']:.1f} | {r['seconds']:.1f} | "
                               f"{r['peak_mb'] - base['peak_mb']:,.0f}").replace(",", " ")  # the label keeps its commas
                    print(f"| {n} | csv | {label} | {figures} | | | |", flush=True)
            if data != data_dir():
                shutil.rmtree(data)


if __name__ == "__main__":
    main()
