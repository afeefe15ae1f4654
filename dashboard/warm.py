"""Warm the shared caches when a server starts serving a data version.

Streamlit runs no script before the first visitor, so the first views after a start paid for
reading every large table (about 10 s of CPU for the eight pages). The first script run of a
data version starts one background thread that reads what every page shares: the territories,
the long table and its per-page cuts, the current values, the catalogue, the polygons of the
France maps. Sessions that ask for the same table meanwhile wait for that one read
(`st.cache_resource` computes a key once). A failure here is only logged: the page that needs the
table shows its own French message. `OBSERVATOIRE_PRECHARGER=0` turns it off (the test suite does,
except in its server test: hundreds of in-process runs over throwaway data folders).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import streamlit as st

from dashboard import data, tiers_lieux, valeurs, vtc

LOG = logging.getLogger(__name__)


def steps() -> list[tuple[str, Callable[[], object]]]:
    """What every page shares, in the order the landing page needs it."""
    return [
        ("territoires", data.territoires),
        ("noms des territoires", data.territory_names),
        ("valeurs courantes", valeurs.current),
        ("index des valeurs", valeurs._index),
        ("catalogue", data.catalogue),
        ("codes postaux", data.codes_postaux),
        ("indicateurs", data.indicateurs),
        ("locations de courte durée", lambda: data.indicateurs_of("str_")),
        ("tiers-lieux", lambda: data.indicateurs_of(tiers_lieux.DISTANCE)),
        ("VTC et taxis", lambda: data.indicateurs_of(*vtc.PREFIXES)),
        ("carte des départements", lambda: data.features("departement")),
        ("carte des régions", lambda: data.features("region")),
    ]


def warm() -> list[str]:
    """Load every shared table; return the names of those that failed (logged, not raised)."""
    failed = []
    for name, load in steps():
        try:
            load()
        except Exception:  # the page that needs it says so in French; the server log keeps the details
            LOG.warning("préchargement de « %s » impossible", name, exc_info=True)
            failed.append(name)
    return failed


#: Environment variable that turns the warm-up off when set to "0".
SWITCH = "OBSERVATOIRE_PRECHARGER"


def start() -> threading.Thread | None:
    """Start the warm-up of the data version served now, once per version and process."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    return _started(data.version())


@st.cache_resource(show_spinner=False, max_entries=data.VERSIONS_KEPT)
def _started(v: str) -> threading.Thread:
    thread = threading.Thread(target=warm, name="warm-data", daemon=True)
    thread.start()
    return thread
