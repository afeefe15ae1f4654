"""Benchmark: `check-live` against a full download of the same live files (what it saves).

    python benchmarks/bench_check_live.py

A local HTTP server on 127.0.0.1 serves the offline mirror's real files under every source's
live path (as `tests/test_check_live.py` does), with byte ranges. Two measures, in the same run:

- check-live: `etl.check_live.check` on every source a `run --all` fetches;
- baseline: every one of those files downloaded in full with `etl.download.stage` (what a
  refresh transfers before parsing).

Printed: time, requests and bytes sent by the server for each, and the ratios. Nothing is
asserted. The numbers are those of the mirror's files (the live files are larger: the housing
census has ~100 columns, the BPE 2.3 million rows), so the saving online is larger still.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl import download, registry  # noqa: E402
from etl.check_live import check, default_sources  # noqa: E402
from etl.config import mirror_dir  # noqa: E402
from etl.sources import rpc, sirene_vtc  # noqa: E402
from etl.sources.base import FetchContext  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402
from tests.test_live_sources import SAMPLES, serve_inside_airbnb  # noqa: E402

STATIC = ["communes", "arrondissements", "epci", "departements", "regions", "contours", "insee_logement",
          "cog_passage", "bnlc", "incitations_covoiturage", "mobilites_durables", "tiers_lieux_anct", "bpe"]


def serve(mirror: Path) -> LiveServer:
    server = LiveServer(mirror)
    serve_inside_airbnb(server, mirror)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("DS_BPE_2025_metadata.csv", "DS_BPE_2025_data.csv"):
            zf.write(SAMPLES / name, name)
    server.files["vtc/DS_BPE_CSV_FR.zip"] = buf.getvalue()
    server.files["api/1/datasets/rpc/"] = json.dumps({"resources": [
        {"title": "2025-02.csv", "url": f"{server.url}/rpc/rpc-format-sample-2025-02.csv"}]}).encode()
    for name in STATIC:
        src = registry.sources()[name]
        type(src).resources_ = tuple(type(r)(r.key, f"{server.url}/{r.mirror}", r.mirror, r.filename)
                                     for r in src.resources_)
    registry.sources()["insideairbnb"].page_url = f"{server.url}/get-the-data/"
    rpc.API_URL = f"{server.url}/api/1/datasets/rpc/"
    sirene_vtc.BASE = server.url
    return server


def main() -> None:
    server = serve(mirror_dir())
    names = default_sources({})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = check(names, out_dir=Path(tmp))
        t_check, n_check, b_check = time.perf_counter() - start, len(server.hits), server.sent
        assert all(r.status in ("ok", "sans objet") for r in results), [r.line() for r in results]

        server.hits.clear()
        server.sent = 0
        start = time.perf_counter()
        ctx = FetchContext(mirror=None, raw_dir=Path(tmp) / "full", progress=False, download_kwargs={"max_attempts": 1})
        files = 0
        for name in names:
            src = registry.sources()[name]
            if src.archive:
                continue
            for r in src.resources(ctx):
                download.stage(r.url, Path(tmp) / "full" / name / r.local_name, label=name, progress=False,
                               max_attempts=1).commit()
                files += 1
        t_full, n_full, b_full = time.perf_counter() - start, len(server.hits), server.sent
    server.close()
    print(f"{len(names)} sources, {files} files")
    print(f"check-live     : {t_check:6.2f} s  {n_check:4d} requests  {b_check / 1e6:8.2f} MB sent")
    print(f"full download  : {t_full:6.2f} s  {n_full:4d} requests  {b_full / 1e6:8.2f} MB sent")
    print(f"ratio          : {t_check / t_full:6.2f} time, {b_check / b_full:.3f} bytes")


if __name__ == "__main__":
    main()
