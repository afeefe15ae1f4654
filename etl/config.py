"""Where things live: the repository, the embedded data, the offline mirror.

Every path can be overridden by an environment variable so that tests, CI and the dashboard
can point at another data folder without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The embedded marts and manifest (committed).
DEFAULT_DATA_DIR = ROOT / "data"

#: The offline mirror of the sources, next to the checkout (see ../shared/opendata/README.md).
DEFAULT_MIRROR_DIR = ROOT.parent / "shared" / "opendata"

#: How the ETL introduces itself to data publishers.
USER_AGENT = "observatoire-collaboratif-etl/0.1 (open data ETL for French local authorities)"


def data_dir() -> Path:
    """The marts folder read by the dashboard: `OBSERVATOIRE_DATA` or `data/`."""
    return Path(os.environ.get("OBSERVATOIRE_DATA", DEFAULT_DATA_DIR))


def mirror_dir() -> Path:
    """The offline mirror: `OBSERVATOIRE_MIRROR` or `../shared/opendata`."""
    return Path(os.environ.get("OBSERVATOIRE_MIRROR", DEFAULT_MIRROR_DIR))
