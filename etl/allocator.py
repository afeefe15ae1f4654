"""Polars' memory allocator (jemalloc) for the ETL's runs: freed pages go back to the system after 0.2 s.

jemalloc keeps the pages a program frees for 10 s by default, to reuse them. The carpool registry is
read one month after another: with the default, each month's freed buffers were still held when
the next month's were taken, and 12 months peaked at 514-527 MB; with `dirty_decay_ms:200` (and the
"muzzy" pages released at once) 443-462 MB, for the same CPU time (27.7-30.4 s against 28.1-31.0 s
over 12 months, paired runs of `benchmarks/bench_covoiturage.py --worker ours`, 2026-12-01). A
decay of 0 gave 386 MB but 21-33 % more CPU: every free then costs a system call.

jemalloc reads `_RJEM_MALLOC_CONF` when polars' library is loaded, so `tune()` must run before the
first `import polars` of the process: `etl/__main__.py` calls it first. An operator's own setting of
the variable wins. The dashboard does not call it (its memory is measured flat as it is).
"""

from __future__ import annotations

import os
import sys

VARIABLE = "_RJEM_MALLOC_CONF"
SETTINGS = "dirty_decay_ms:200,muzzy_decay_ms:0"


def tune() -> bool:
    """Set the allocator's settings for this process and its children; False if too late (polars loaded)."""
    if "polars" in sys.modules:
        return False
    os.environ.setdefault(VARIABLE, SETTINGS)
    return True
