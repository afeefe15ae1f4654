"""Local carpool incentive campaigns: who pays drivers and passengers, how much, through whom.

The copy kept by `betagouv/aides-jeunes` (`incitations-covoiturage.json`) of data.gouv.fr's
"conditions des campagnes d'incitation financière au covoiturage": one object per active
campaign, keyed by the organising authority's SIREN (all EPCI SIRENs), with amounts, distance
bounds and operators. Operator names are spelled inconsistently ("BlaBlaCar Daily",
"BlablaCarDaily", "BlaBlaCarDaily"): they are normalised. The list has no start dates.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl

from etl.formats import JsonRecordsFormat
from etl.sources.base import FetchContext, Parsed, Resource, Source, SourceError

#: Operator spellings, compared without case, spaces or punctuation -> the operator's name.
OPERATORS = {
    "blablacardaily": "BlaBlaCar Daily",
    "blablacar": "BlaBlaCar Daily",
    "karos": "Karos",
    "klaxit": "Klaxit",
    "mobicoop": "Mobicoop",
    "ecov": "Ecov",
    "rezopouce": "Rezo Pouce",
    "moovicite": "Mooviciti",
}

#: The campaign's fields the parser reads: a campaign without `code_siren` is rejected (counted).
FORMAT = JsonRecordsFormat(("code_siren",), known=(
    "link", "nom_plateforme", "operateurs", "zone_sens_des_trajets", "conducteur_montant_max_par_mois",
    "conducteur_montant_min_par_passager", "conducteur_montant_max_par_passager", "trajet_longueur_max",
    "trajet_longueur_min", "passager_trajets_max_par_mois", "passager_montant_ticket", "si_zone_exclue_liste",
    "passager_gratuite"))

#: The mirror's copy is the list of April 2026.
MIRROR_LIST_YEAR = "2026"
NUMBERS = {
    "conducteur_montant_max_par_mois": "montant_max_conducteur_mois",
    "conducteur_montant_min_par_passager": "montant_min_conducteur_passager",
    "conducteur_montant_max_par_passager": "montant_max_conducteur_passager",
    "trajet_longueur_min": "distance_min_km",
    "trajet_longueur_max": "distance_max_km",
    "passager_trajets_max_par_mois": "trajets_max_passager_mois",
}


def normalise_operator(name: str) -> str:
    """"BlablaCarDaily" -> "BlaBlaCar Daily"; an unknown operator keeps its name, trimmed."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return OPERATORS.get(key, " ".join(name.split()))


def operators(text: str | None) -> list[str]:
    """"Karos, BlablaCarDaily, Klaxit" -> ["BlaBlaCar Daily", "Karos", "Klaxit"] (sorted, unique)."""
    parts = [p for p in re.split(r"[,;/]| et ", text or "") if p.strip()]
    return sorted({normalise_operator(p) for p in parts})


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(str(value).replace(",", "."))
    except ValueError:
        return None


class IncitationsCovoiturage(Source):
    name = "incitations_covoiturage"
    title = "Campagnes locales d'incitation financière au covoiturage"
    publisher = "Ministère chargé des transports (registre de preuve de covoiturage), via betagouv/aides-jeunes"
    homepage = "https://www.data.gouv.fr/fr/datasets/conditions-des-campagnes-dincitation-financiere-au-covoiturage/"
    licence = "Licence Ouverte 2.0"
    attribution = "Conditions des campagnes d'incitation financière au covoiturage (data.gouv.fr), copie betagouv/aides-jeunes"
    vintage = "avril 2026"
    min_rows = 10
    provenance = ("Copie publique tenue par betagouv/aides-jeunes (branche par défaut) : son script "
                  "(tools/download-incitations-covoiturage-generate-missing-institutions.ts) l'extrait d'une base "
                  "Grist du ministère qui complète le jeu data.gouv.fr ; le fichier du producteur sur data.gouv.fr "
                  "n'a ni adresse stable établie ici ni échantillon de son format.")
    formats = FORMAT
    resources_ = (
        Resource(
            "main",
            "https://raw.githubusercontent.com/betagouv/aides-jeunes/HEAD/data/benefits/dynamic/incitations-covoiturage.json",
            "incitations-covoiturage/incitations-covoiturage.json",
        ),
    )

    def parse(self, files: dict[str, Path], ctx: FetchContext) -> Parsed:
        try:
            records = json.loads(Path(files["main"]).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SourceError(f"{self.name}: JSON illisible ({exc})") from exc
        if not isinstance(records, list):
            raise SourceError(f"{self.name}: une liste de campagnes était attendue")
        present = set().union(*(r.keys() for r in records if isinstance(r, dict)))
        missing = [f for f in FORMAT.required if f not in present]
        if records and missing:  # every campaign would be rejected: the format changed
            raise SourceError(f"{self.name}: champ(s) manquant(s) dans le JSON : {', '.join(missing)}")
        rejected = Counter()
        rows = []
        for r in records:
            siren = str(r.get("code_siren") or "").strip()
            if not re.fullmatch(r"\d{9}", siren):
                rejected["SIREN absent ou mal formé"] += 1
                continue
            ops = operators(r.get("operateurs"))
            row = {
                "code_siren": siren,
                "operateurs": ops,
                "operateurs_source": r.get("operateurs"),
                "sens_trajets": r.get("zone_sens_des_trajets") or None,
                "passager_gratuit": str(r.get("passager_gratuite") or "").strip().lower() == "oui",
                "ticket_passager": (r.get("passager_montant_ticket") or None),
                "lien": (r.get("link") or None),
                "plateforme": (r.get("nom_plateforme") or None),
            }
            for field, col in NUMBERS.items():
                row[col] = _number(r.get(field))
            rows.append(row)
        schema = {
            "code_siren": pl.String, "operateurs": pl.List(pl.String), "operateurs_source": pl.String,
            "sens_trajets": pl.String, "passager_gratuit": pl.Boolean, "ticket_passager": pl.String,
            "lien": pl.String, "plateforme": pl.String, **{c: pl.Float64 for c in NUMBERS.values()},
        }
        df = pl.DataFrame(rows, schema=schema)
        year = MIRROR_LIST_YEAR if ctx.mirror is not None else str(date.today().year)
        return Parsed({"main": df.sort("code_siren"), "photographie": pl.DataFrame({"periode": [year]})},
                      rows_read=len(records), rejected=+rejected)


SOURCE = IncitationsCovoiturage()
