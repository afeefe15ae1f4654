"""What a page says when data are missing: what, since when, and where to read how to get them.

Pages show no command line for refreshing the data: a civil servant reads the README's section
« Rafraîchir les données » (check the sources, then run the refresh). The dates come from the
manifest of the data folder the dashboard reads.
"""

from __future__ import annotations

from typing import Any

from etl.export import french_date

#: Where a user learns how to refresh the data (the pages point there, never to a command).
REFRESH_HELP = "la section « Rafraîchir les données » du fichier README du projet"


def _latest(entries: list[dict[str, Any]], key: str) -> str | None:
    dates = [e[key] for e in entries if e.get(key)]
    return max(dates) if dates else None


def since(manifest: dict[str, Any], sources: list[str]) -> str:
    """Since when `sources` are what they are in this data folder, in a French clause without agreement.

    "aucune récupération en ligne ; données construites le 30 novembre 2026 à partir de la copie hors
    ligne des sources", or "dernière récupération en ligne le 2 décembre 2026".
    """
    entries = [manifest.get("sources", {}).get(s) for s in sources]
    found = [e for e in entries if e]
    live = [e for e in found if e.get("origine") == "live"]
    if live:
        return f"dernière récupération en ligne le {french_date(_latest(live, 'recupere_le'))}"
    built = _latest(list(manifest.get("marts", {}).values()), "construit_le")
    when = f"le {french_date(_latest(found, 'recupere_le') or built)}" if (found or built) else None
    if when is None:
        return "aucune récupération en ligne, et aucune donnée construite dans ce dossier"
    return f"aucune récupération en ligne ; données construites {when} à partir de la copie hors ligne des sources"


def missing_sentence(what: str, manifest: dict[str, Any], sources: list[str]) -> str:
    """"<what> : <since>. Pour les obtenir, suivre <the README section>." (Markdown-safe)."""
    return f"{what} : {since(manifest, sources)}. Pour les obtenir, suivre {REFRESH_HELP}."
