"""`python -m etl` sets polars' allocator before polars is loaded (etl/allocator.py), unless the operator did."""

from __future__ import annotations

import os
import subprocess
import sys

from etl import allocator
from etl.config import ROOT

PROBE = ("import sys; import etl.__main__; import os; "
         "print(os.environ.get('_RJEM_MALLOC_CONF'), 'polars' in sys.modules)")


def _probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != allocator.VARIABLE}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT,
                         env={**base, **env}, check=True)
    return out.stdout.strip()


def test_the_cli_sets_the_allocator_before_polars_loads():
    # the CLI's module imports nothing of polars at its top: the setting is in place before the first import
    assert _probe() == f"{allocator.SETTINGS} False"


def test_an_operators_setting_wins():
    assert _probe(_RJEM_MALLOC_CONF="narenas:1") == "narenas:1 False"


def test_too_late_once_polars_is_loaded():
    import polars  # noqa: F401 - loaded in this test process, as in any test

    assert allocator.tune() is False
