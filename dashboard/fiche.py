"""The territory brief ("fiche territoire"): a 2-page A4 PDF in French for a council meeting.

    python -m dashboard.fiche 33063 69123                         # into exports/fiches/
    python -m dashboard.fiche 243300316 --niveau epci --out /tmp/fiches/
    python -m dashboard.fiche --niveau commune --departement 33 --out exports/fiches/gironde/

Built with fpdf2 (pure Python PDF) and matplotlib (static charts and maps, Agg backend): both
maintained, both run offline, no browser needed. Text is set in DejaVu Sans, shipped with
matplotlib, so every French character prints. Figures come from the same functions as the
pages (`dashboard.valeurs` for every figure, `dashboard.equilibre`, `dashboard.figures`,
`dashboard.compare`), so the brief and the page say the same numbers.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib
import polars as pl

matplotlib.use("Agg")
from fpdf import FPDF  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402  (not pyplot: its global figure list is not thread-safe)
from matplotlib.patches import Polygon as MplPolygon  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from dashboard import compare, data, equilibre, figures, fmt, valeurs  # noqa: E402
from dashboard.territory import LEVEL_LABELS, Territory, parents, resolve  # noqa: E402
from etl.indices import COMPONENT_META, COMPONENTS  # noqa: E402

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
BLUE = (0, 0, 145)
RED = (225, 0, 15)
GREY = (102, 102, 102)

DOMAINS = {
    "Covoiturage du quotidien": ["covoit_trajets", "covoit_trajets_pour_1000_hab", "covoit_part_interne",
                                 "covoit_taux_occupation", "covoit_aires", "covoit_places_aires",
                                 "covoit_campagne_incitation"],
    "Tiers-lieux": ["tiers_lieux", "tiers_lieux_pour_10000_hab", "part_pop_10km_tiers_lieu"],
    "Locations de courte durée": ["str_annonces", "str_annonces_pour_100_logements", "str_part_logement_entier",
                                  "str_part_hotes_multi", "str_part_numero_valide"],
    "VTC et taxis": ["vtc_equipements", "vtc_pour_10000_hab", "taxis_bpe"],
}
INDEX_TITLES = {"indice_collaboratif": "Adoption collaborative", "indice_plateformes": "Pénétration des plateformes"}


@dataclass
class BriefFigures:
    """What the brief prints, computed once (and checked against the page by the tests)."""

    territory: Territory
    row: dict
    chain: list[Territory]
    indices: dict
    quadrant: str | None
    peers: pl.DataFrame
    standing: pl.DataFrame
    peer_medians: dict[str, float | None]
    domains: dict[str, list[figures.KeyFigure]]
    scope: equilibre.Scope
    scope_rows: pl.DataFrame
    coverage_str: str
    verdict: str = ""


def file_name(t: Territory) -> str:
    """"fiche_commune_33063_bordeaux.pdf"."""
    slug = unicodedata.normalize("NFKD", t.nom).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    return f"fiche_{t.niveau}_{t.code}_{slug}.pdf"


def gather(t: Territory) -> BriefFigures:
    territoires = data.territoires()
    ranks = data.table("equilibre/rangs.parquet")
    stored = data.table("equilibre/indices.parquet")
    row = territoires.filter((pl.col("niveau") == t.niveau) & (pl.col("code") == t.code)).row(0, named=True)
    chain = parents(territoires, t)
    idx = stored.filter(pl.col("niveau") == t.niveau)
    mine = idx.filter(pl.col("code") == t.code)
    me = mine.row(0, named=True) if mine.height else {}
    for key in COMPONENTS:  # the figure every page shows: the one answer of `dashboard.valeurs`
        me[key] = valeurs.valeur(t.niveau, t.code, key).valeur
    peers = compare.comparables(territoires, t)
    peer_idx = idx.filter(pl.col("code").is_in(peers["code"].implode()))
    medians = {k: (peer_idx[k].median() if peer_idx.height and k in peer_idx.columns else None) for k in COMPONENTS}
    scope = equilibre.default_scope(t.niveau, row)
    try:
        coverage_str = _coverage()
    except FileNotFoundError:
        coverage_str = ""
    return BriefFigures(
        territory=t, row=row, chain=chain, indices=me, quadrant=me.get("quadrant"),
        peers=peers, standing=equilibre.standing_among(ranks, t.code, t.niveau, peers["code"].to_list()),
        peer_medians=medians,
        domains={name: figures.key_figures(valeurs.current(), data.catalogue(), territoires, t, ids,
                                           levels=valeurs.levels())
                 for name, ids in DOMAINS.items()},
        scope=scope, scope_rows=equilibre.table(territoires, stored.filter(pl.col("niveau") == scope.niveau), ranks,
                                                scope),
        coverage_str=coverage_str, verdict=equilibre.verdict(me, t.nom, t.niveau),
    )


def _coverage() -> str:
    from dashboard import locations

    return locations.coverage_sentence(data.table("locations/instantanes.parquet"))


def index_text(value: float | None) -> str:
    """How an index is printed, on the page and in the brief: "72 / 100"."""
    return f"{fmt.number(value)} / 100" if not fmt.is_missing(value) else fmt.NO_DATA


# -- images ------------------------------------------------------------------------------------------
def quadrant_png(b: BriefFigures) -> bytes:
    rows = equilibre.both(b.scope_rows)
    fig = Figure(figsize=(4.2, 3.9), dpi=160)
    ax = fig.subplots()
    peers = set(b.peers["code"])
    for part, colour, size, z in (
        (rows.filter(~pl.col("code").is_in([b.territory.code, *peers])), "#6A6AF4", 14, 1),
        (rows.filter(pl.col("code").is_in(list(peers))), "#000091", 26, 2),
        (rows.filter(pl.col("code") == b.territory.code), "#E1000F", 70, 3),
    ):
        ax.scatter(part["indice_plateformes"], part["indice_collaboratif"], s=size, c=colour, alpha=0.85,
                   edgecolors="white", linewidths=0.5, zorder=z)
    if rows.height == 0:  # nobody of the view has both indices: say it on the chart, draw no point
        ax.text(50, 50, "Pas de mesure des plateformes\ndans cette vue : quadrant vide", ha="center", va="center",
                fontsize=8, color="#555")
    ax.axhline(50, color="#999", ls=":", lw=1)
    ax.axvline(50, color="#999", ls=":", lw=1)
    for x, y, label in ((25, 97, "collaboratif"), (75, 97, "les deux"), (25, 3, "ni l'un ni l'autre"),
                        (75, 3, "plateformisé")):
        ax.text(x, y, label, ha="center", va="center", fontsize=8, color="#555", weight="bold")
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("Indice plateformes", fontsize=8)
    ax.set_ylabel("Indice collaboratif", fontsize=8)
    ax.tick_params(labelsize=7)
    title = equilibre.scope_label(b.scope, _names())
    ax.set_title(title[:1].upper() + title[1:], fontsize=8)
    return _png(fig)


def map_png(b: BriefFigures) -> bytes:
    import json

    codes = tuple(sorted(b.scope_rows["code"]))
    feats = data.features(b.scope.niveau, codes)
    colours = {c: equilibre.bivariate_colour(x, y) for c, x, y in
               b.scope_rows.select("code", "classe_c", "classe_p").iter_rows()}
    fig = Figure(figsize=(4.2, 3.9), dpi=160)
    ax = fig.subplots()
    patches, faces, edges, widths = [], [], [], []
    for f in sorted(feats, key=lambda f: f["properties"]["code"] == b.territory.code):
        code = f["properties"]["code"]
        geom = f["geometry"] if isinstance(f["geometry"], dict) else json.loads(f["geometry"])
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            patches.append(MplPolygon(poly[0], closed=True))
            faces.append(colours.get(code) or "#DCDCDC")
            selected = code == b.territory.code
            edges.append("#E1000F" if selected else "white")
            widths.append(1.6 if selected else 0.3)
    ax.add_collection(PatchCollection(patches, facecolor=faces, edgecolor=edges, linewidths=widths))
    ax.autoscale_view()
    ax.set_aspect(1 / max(0.2, abs(__import__("math").cos(__import__("math").radians(b.row.get("latitude") or 46)))))
    ax.axis("off")
    # the 3 x 3 legend
    inset = ax.inset_axes([0.0, 0.0, 0.2, 0.2])
    for c in range(3):
        for p in range(3):
            inset.add_patch(Rectangle((p, c), 1, 1, color=equilibre.BIVARIATE[c][p]))
    inset.set_xlim(0, 3)
    inset.set_ylim(0, 3)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_xlabel("plateformes →", fontsize=6)
    inset.set_ylabel("collaboratif →", fontsize=6)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes. Figures are made without pyplot, whose global state concurrent
    sessions would share: each brief owns its figure, released with it."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _names() -> dict[tuple[str, str], str]:
    return data.territory_names()


# -- the PDF -----------------------------------------------------------------------------------------
class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVu", "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
        self.set_auto_page_break(auto=True, margin=14)
        self.brief_title = title
        self.set_title(title)
        self.set_author("Observatoire de l'économie collaborative")

    def header(self) -> None:
        self.set_fill_color(*BLUE)
        self.rect(0, 0, 210, 11, style="F")
        self.set_xy(10, 3)
        self.set_text_color(255, 255, 255)
        self.set_font("DejaVu", "B", 9)
        self.cell(0, 5, "Observatoire de l'économie collaborative · Fiche territoire")
        self.set_text_color(0, 0, 0)
        self.set_y(15)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.brief_title} · édité le {fmt.period(date.today().isoformat())} · page {self.page_no()}/2",
                  align="C")
        self.set_text_color(0, 0, 0)

    def h2(self, text: str) -> None:
        self.ln(2)
        self.set_font("DejaVu", "B", 11)
        self.set_text_color(*BLUE)
        self.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)

    def small(self, text: str, size: float = 7.5, width: float = 0) -> None:
        self.set_font("DejaVu", "", size)
        self.set_text_color(*GREY)
        self.multi_cell(width, 3.6, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)


def _table(pdf: _Pdf, rows: list[list[str]], widths: list[float], *, header: bool = True, size: float = 8) -> None:
    from fpdf.fonts import FontFace

    pdf.set_font("DejaVu", "", size)
    heading = FontFace(family="DejaVu", emphasis="BOLD", size_pt=size, color=BLUE)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=size * 0.5, first_row_as_headings=header,
                   headings_style=heading, borders_layout="HORIZONTAL_LINES", width=sum(widths)) as table:
        for r in rows:
            line = table.row()
            for cell in r:
                line.cell(cell)


def render(b: BriefFigures) -> bytes:
    t, row = b.territory, b.row
    pdf = _Pdf(f"{t.nom} ({LEVEL_LABELS[t.niveau]})")

    # -- page 1: identity, indices, peers, quadrant ------------------------------------------------
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 20)
    pdf.cell(0, 9, t.nom, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    code_label = {"epci": "SIREN", "commune": "code Insee", "arrondissement": "code Insee"}.get(t.niveau, "code")
    chain = " › ".join(p.nom for p in reversed(b.chain))
    pdf.cell(0, 5, f"{LEVEL_LABELS[t.niveau].capitalize()} · {code_label} {t.code}" + (f" · {chain}" if chain else ""),
             new_x="LMARGIN", new_y="NEXT")

    pdf.h2("Identité")
    ident = {i: valeurs.valeur(t.niveau, t.code, i)  # the figures every page shows
             for i in ("population", "logements", "densite", "part_residences_secondaires")}
    parents_text = {p.niveau: p.nom for p in b.chain}
    _table(pdf, [
        ["Population (2023)", fmt.number(ident["population"].valeur), "Logements (2021)",
         fmt.number(ident["logements"].valeur)],
        ["Densité", fmt.with_unit(ident["densite"].valeur, "hab./km²", 0), "Résidences secondaires",
         fmt.with_unit(ident["part_residences_secondaires"].valeur, "%", 1)],
        ["Superficie", fmt.with_unit(row["superficie_km2"], "km²", 1), "Intercommunalité",
         parents_text.get("epci", "—")],
        ["Département", parents_text.get("departement", "—"), "Région", parents_text.get("region", "—")],
    ], [38, 52, 42, 58], header=False)
    housing_note = ident["logements"].raison if ident["logements"].manque else None
    if housing_note and "Logements 2021" in housing_note:
        pdf.small(housing_note)

    pdf.h2("Collaboratif ou plateformes ?")
    pdf.set_font("DejaVu", "B", 9)
    pdf.multi_cell(0, 4.2, b.verdict, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    y0 = pdf.get_y()
    pdf.set_font("DejaVu", "", 9)
    for key, title in INDEX_TITLES.items():
        nature = fmt.nature_label(b.indices.get(f"nature_{key}") or "")
        median = b.peer_medians.get(key)
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(95, 5, f"{title} : {index_text(b.indices.get(key))}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(95, 4, (b.indices.get(f"raison_{key}") or "Commune sans habitant : pas d'indice.")
                       + (f" Nature : {nature}." if nature and b.indices.get(key) is not None else "")
                       + (f" Comparables notés (médiane) : {fmt.number(median)}." if median is not None else ""),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(95, 5, f"Position : {b.quadrant or 'non classé'}", new_x="LMARGIN", new_y="NEXT")
    pdf.small("Indices de 0 à 100 : moyenne des rangs centiles de toutes les composantes classées au niveau du "
              "territoire ; s'il en manque une, pas de note ; seuil des quadrants à 50.", 7, width=95)
    pdf.image(io.BytesIO(quadrant_png(b)), x=108, y=y0, w=92)
    pdf.set_y(max(pdf.get_y(), y0 + 88))

    pdf.h2("Face aux territoires comparables")
    pdf.small(compare.peer_summary(t, data.territoires())
              + (" " + ", ".join(b.peers["nom"].to_list()) + "." if b.peers.height else ""))
    labels = dict(equilibre.component_table().select("composante", "libelle").iter_rows())
    units = {r["indicateur"]: r for r in data.catalogue().iter_rows(named=True)}
    rows = [["Composante", "Valeur", "Période", "Rang centile en France", "Parmi les comparables"]]
    for r in b.standing.iter_rows(named=True):
        nature = fmt.nature_label(r["nature"])
        meta = units.get(r["composante"], {"unite": "", "decimales": 2})
        unit = "" if meta["unite"].startswith("pour ") else meta["unite"]
        value = (COMPONENT_META[r["composante"]].absent_texte if r["statut"] == "aucun"
                 else figures.with_unit(r["valeur"], unit, meta["decimales"]))
        rows.append([labels.get(r["composante"], r["composante"]) + (f" ({nature})" if nature else ""),
                     value, fmt.period(r["periode"]),
                     fmt.number(r["rang"]),
                     equilibre.peer_standing_text(r["rang_pairs"], r["n_pairs"])])
    if len(rows) > 1:
        _table(pdf, rows, [64, 22, 22, 24, 58], size=7.5)
    else:
        pdf.small("Aucune composante des indices n'est connue pour ce territoire.")

    # -- page 2: key figures by domain, map, method ----------------------------------------------
    pdf.add_page()
    pdf.h2("Chiffres clés par domaine")
    for domain, figs in b.domains.items():
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(0, 5, domain, new_x="LMARGIN", new_y="NEXT")
        lines = [["Indicateur", "Valeur", "Période", "Source"]]
        for f in figs:
            if f.valeur is None:
                lines.append([f.libelle, fmt.NO_DATA, "", f.raison or ""])
                continue
            nature = fmt.nature_label(f.nature or "")
            lines.append([f.libelle, figures.with_unit(f.valeur, f.unite, f.decimales)
                          + (f" ({nature})" if nature else ""), fmt.period(f.periode or ""), _source_label(f.source)])
        if len(lines) > 1:
            _table(pdf, lines, [72, 42, 24, 52], size=7)
        else:
            pdf.small("Aucune donnée de ce domaine n'est chargée dans l'observatoire.")
        pdf.ln(1)
    y0 = pdf.get_y()
    pdf.image(io.BytesIO(map_png(b)), x=10, y=y0, w=84)
    pdf.set_xy(98, y0)
    pdf.set_font("DejaVu", "B", 9)
    pdf.cell(0, 5, "Méthode et limites", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 7)
    method = [
        "Carte : " + equilibre.scope_label(b.scope, _names()) + ", couleurs selon les terciles des deux indices "
        "(palette lisible par les daltoniens), le territoire cerné de rouge.",
        "Covoiturage : le registre de preuve de covoiturage ne compte que les trajets réalisés via des opérateurs "
        "partenaires, environ 15 % du covoiturage du quotidien. Les mois du registre sont des données simulées "
        "(calées sur les totaux réels 2024 par intercommunalité) tant qu'aucun fichier mensuel n'est chargé.",
        "Locations de courte durée : Inside Airbnb ne couvre que quelques villes"
        + (f" ({b.coverage_str})" if b.coverage_str else "") + " ; ailleurs : non couvert, jamais 0.",
        "Tiers-lieux : base de l'ANCT (ex-CGET), 2019. VTC : estimation 2018 à partir des taxis 2013 de la BPE et de la "
        "croissance réelle des équipements taxi-VTC 2013-2018, tant que la BPE courante n'est pas chargée ; cette "
        "estimation n'entre pas dans l'indice des plateformes (un nombre de taxis ne mesure pas les plateformes).",
        "Sources : Insee (recensement, BPE, COG), geo.api.gouv.fr, IGN Admin Express, transport.data.gouv.fr "
        "(BNLC, ODbL), registre de preuve de covoiturage, ANCT, Inside Airbnb (CC BY 4.0) ; Licence Ouverte 2.0 "
        "sauf mention.",
    ]
    for m in method:
        pdf.set_x(98)
        pdf.multi_cell(102, 3.4, "• " + m, new_x="LEFT", new_y="NEXT")
        pdf.ln(0.8)
    out = pdf.output()
    return bytes(out)


def _source_label(source: str | None) -> str:
    sources = data.manifest().get("sources", {})
    entry = sources.get(source or "", {})
    return entry.get("producteur") or entry.get("titre") or (source or "")


def brief_pdf(niveau: str, code: str) -> bytes:
    """The brief of one territory as PDF bytes; ValueError when the territory is unknown."""
    t = resolve(data.territoires(), niveau, code)
    if t is None:
        raise ValueError(f"territoire inconnu : {niveau} {code}")
    if t.niveau == "france":
        raise ValueError("la fiche se fait pour une région, un département, une intercommunalité ou une commune")
    return render(gather(t))


# -- command line --------------------------------------------------------------------------------
def guess_level(code: str) -> str:
    if re.fullmatch(r"\d{9}", code):
        return "epci"
    if re.fullmatch(r"\d{5}|2[AB]\d{3}", code):
        return "commune"
    return "departement"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.fiche",
                                     description="Fiches territoire (PDF, 2 pages A4), une par code.")
    parser.add_argument("codes", nargs="*", help="codes Insee, SIREN d'EPCI, numéros de département ou de région")
    parser.add_argument("--niveau", choices=["commune", "arrondissement", "epci", "departement", "region"],
                        help="niveau des codes (défaut : deviné ; 2 ou 3 caractères = département)")
    parser.add_argument("--departement", help="toutes les communes (ou EPCI avec --niveau epci) de ce département")
    parser.add_argument("--out", default="exports/fiches",
                        help="dossier où écrire les PDF (défaut : exports/fiches du dossier courant, ignoré par git)")
    args = parser.parse_args(argv)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from tqdm import tqdm

    territoires = data.territoires()
    wanted: list[tuple[str, str]] = [(args.niveau or guess_level(c), c.strip().upper()) for c in args.codes]
    if args.departement:
        level = args.niveau or "commune"
        members = territoires.filter((pl.col("niveau") == level) & (pl.col("code_departement") == args.departement))
        if members.height == 0:
            print(f"Erreur : aucun territoire de niveau {level} dans le département {args.departement}", file=sys.stderr)
            return 2
        wanted += list(zip(members["niveau"], members["code"], strict=True))
    if not wanted:
        parser.error("indiquer des codes ou --departement")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = []
    for niveau, code in tqdm(wanted, desc="fiches", unit="fiche"):
        t = resolve(territoires, niveau, code)
        if t is None:
            failures.append(f"{niveau} {code} : territoire inconnu")
            continue
        try:
            (out / file_name(t)).write_bytes(brief_pdf(t.niveau, t.code))
        except Exception as exc:  # one bad territory must not stop the others
            failures.append(f"{niveau} {code} : {exc}")
    done = len(wanted) - len(failures)
    print(f"{done} fiche{'s' if done > 1 else ''} écrite{'s' if done > 1 else ''} dans {out}")
    for f in failures:
        print(f"Erreur : {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
