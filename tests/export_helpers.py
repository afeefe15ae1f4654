"""A small marts folder for the extract tests that real data cannot cover.

The real marts have no territory whose name starts with "=", no negative value, no simulated
row, no indicator with two sources and no domain other than the foundation's. This folder has
all of them, written through the contract's own functions (`conform`, `catalogue_frame`,
`write_parquet`), with a domain that exists nowhere else ("demonstration"): the extract code
must serve it without knowing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from etl.indicators import Indicator, catalogue_frame, conform
from etl.store import write_json, write_parquet

NAMES = {
    "99001": "=HYPERLINK(\"http://exemple.invalid\";\"clic\")",
    "99002": "+33 Plage",
    "99003": "-Moins-sur-Mer",
    "99004": "@Arobase",
    "99005": "Sainte-Ordinaire",
}

INDICATORS = [
    Indicator("demo_trajets", "Trajets de démonstration", "trajets", "Nombre de trajets (jeu de test).",
              "collaboratif", "demonstration", "Démo ouverte", "CC BY 4.0", sens=1, decimales=0),
    Indicator("demo_solde", "Solde de démonstration", "%", "Variation en pourcentage (jeu de test).",
              "plateforme", "demonstration", "Démo ouverte", "ODbL", sens=-1, decimales=1),
]


def _square(x: float, y: float) -> str:
    ring = [[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def build(root: Path) -> Path:
    """Write the small marts folder under `root` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    communes = pl.DataFrame({
        "niveau": ["commune"] * 5, "code": list(NAMES), "nom": list(NAMES.values()),
        "code_commune": [None] * 5, "code_epci": ["999999999"] * 5, "code_departement": ["99"] * 5,
        "code_region": ["98"] * 5,
    })
    upper = pl.DataFrame({
        "niveau": ["epci", "departement", "region", "france"], "code": ["999999999", "99", "98", "FR"],
        "nom": ["CC de Démonstration", "Démo-Département", "Démo-Région", "France"],
        "code_commune": [None] * 4, "code_epci": [None] * 4, "code_departement": ["99", None, None, None],
        "code_region": ["98", "98", None, None],
    })
    write_parquet(pl.concat([communes, upper]), root / "territoires.parquet")
    write_parquet(catalogue_frame(INDICATORS), root / "catalogue.parquet")
    rows = pl.DataFrame(
        [
            # 2024: two sources for demo_trajets, one simulated
            ("commune", "99001", "demo_trajets", "2024", 12.0, "reel", "demo_registre"),
            ("commune", "99002", "demo_trajets", "2024", 7.0, "reel", "demo_registre"),
            ("commune", "99001", "demo_trajets", "2024", 15.5, "simule", "demo_modele"),
            # monthly periods: a year selects its months
            ("commune", "99001", "demo_trajets", "2024-01", 1.0, "reel", "demo_registre"),
            ("commune", "99001", "demo_trajets", "2024-02", 2.0, "reel", "demo_registre"),
            # negative values stay numbers; mixed natures in one column
            ("commune", "99003", "demo_solde", "2023", -3.25, "reel", "demo_registre"),
            ("commune", "99004", "demo_solde", "2023", -0.5, "estime", "demo_registre"),
            ("commune", "99005", "demo_solde", "2023", 4.0, "reel", "demo_registre"),
            ("departement", "99", "demo_trajets", "2024", 19.0, "reel", "demo_registre"),
        ],
        schema=["niveau", "code", "indicateur", "periode", "valeur", "nature", "source"], orient="row",
    )
    write_parquet(conform(rows), root / "indicateurs" / "demo.parquet")
    geo = pl.DataFrame({"code_departement": ["99"] * 4, "code_epci": ["999999999"] * 4,
                        "code_commune": [None] * 4, "code": list(NAMES)[:4],
                        "geometry": [_square(2 + i * 0.1, 45) for i in range(4)]},
                       schema_overrides={"code_commune": pl.String})
    write_parquet(geo, root / "geo" / "communes.parquet")  # 99005 has no polygon
    write_json({
        "sources": {
            "demo_registre": {"titre": "Registre de démonstration", "producteur": "Démo", "licence": "ODbL",
                              "attribution": "Registre de démonstration, ODbL", "millesime": "2024",
                              "recupere_le": "2026-01-15T10:00:00+00:00", "nature": "reel",
                              "urls": ["https://exemple.invalid/registre.csv"],
                              "lignes_rejetees": {"code commune inconnu": 3}},
            "demo_modele": {"titre": "Modèle de démonstration", "producteur": "Démo", "licence": "CC BY 4.0",
                            "attribution": "Démo modèle (CC BY 4.0)", "millesime": "2024",
                            "recupere_le": "2026-01-15T10:00:00+00:00", "nature": "simule", "urls": []},
        },
        "marts": {"demo": {"titre": "Démo", "sources": ["demo_registre", "demo_modele"],
                           "lignes_rejetees": {"valeur négative refusée": 1}}},
    }, root / "manifest.json")
    return root
