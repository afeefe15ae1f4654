"""The landing page (« Mon territoire », `/`): where the territory stands, why, and one tile per domain.

An official opening the link of her commune must understand in ten seconds where it stands
between collaborative adoption and platforms (issue #12): the page opens on the two positions,
what they rest on and the verdict sentence (`dashboard.equilibre`), then one tile per domain
with its headline figure, its comparison with similar territories and its trend, each linking
to its page. Identity comes after, in one line.

Pure functions over what the ETL computed once per data version: every figure is the answer of
`dashboard.valeurs` (passed in as `lookup`, so tests give the same one), the trend its previous
period (`valeurs/evolutions.parquet`), the peers those of `comparables.parquet`. Where a domain
has no measure for the territory, its tile says so in one sentence, never with a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from dashboard import fmt
from dashboard.compare import peer_count_text
from dashboard.figures import with_unit as counted
from dashboard.territory import Territory
from dashboard.valeurs import MISSING, Evolution, Valeur

Lookup = Callable[[str, str, str], Valeur]
EvolutionLookup = Callable[[str, str, str], "Evolution | None"]


@dataclass(frozen=True)
class Domain:
    """One tile: the domain, its page, the figure it leads with (per level) and the count under it."""

    key: str
    titre: str
    famille: str
    page: str
    headline: dict[str, str]
    detail: str
    #: an indicator that measures the trend itself (else: the headline's previous period)
    trend: str | None = None

    def headline_for(self, niveau: str) -> str:
        return self.headline.get(niveau, self.headline["*"])


DOMAINS = (
    Domain("covoiturage", "Covoiturage", "Collaboratif", "covoiturage.py",
           {"*": "covoit_trajets_pour_1000_hab"}, "covoit_trajets"),
    Domain("tiers_lieux", "Tiers-lieux", "Collaboratif", "tiers_lieux.py",
           {"commune": "distance_tiers_lieu_km", "arrondissement": "distance_tiers_lieu_km",
            "*": "part_pop_10km_tiers_lieu"}, "tiers_lieux"),
    Domain("locations_courte_duree", "Locations de courte durée", "Plateformes", "locations_courte_duree.py",
           {"*": "str_annonces_pour_100_logements"}, "str_annonces"),
    Domain("vtc", "VTC et taxis", "Plateformes", "vtc_taxis.py",
           {"*": "vtc_pour_10000_hab"}, "vtc_equipements", trend="vtc_hausse_pour_10000_hab"),
)

#: Said on a tile whose figure is an estimate (the VTC figure offline).
ESTIMATE_NOTES = {
    "vtc": "Estimation, pas une mesure : taxis de 2013 × croissance de leur zone jusqu'en 2018, faute de la base "
           "des équipements actuelle ; les VTC ne sont pas comptés un à un.",
}
SIMULATED_NOTES = {
    "covoiturage": "Données simulées : la répartition entre communes et entre mois est simulée, le total annuel de "
                   "chaque intercommunalité est réel.",
}


@dataclass(frozen=True)
class Tile:
    """What a domain's tile shows: each text is a sentence or a figure already in French."""

    domain: Domain
    #: the headline figure, exactly `dashboard.valeurs`' answer
    figure: Valeur
    #: the count under it (`Domain.detail`), also `dashboard.valeurs`' answer
    detail: Valeur | None
    comparaison: str | None = None
    tendance: str | None = None
    #: one plain sentence when the domain has no measure here (then no number is shown)
    absence: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def valeur_texte(self) -> str:
        """The big number: "122,4", "0,3 km", "100 %" (a rate's unit is in its label)."""
        return headline_text(self.figure)

    @property
    def detail_texte(self) -> str | None:
        """"Trajets de covoiturage : 32 812" (with its period when it differs from the headline's)."""
        d = self.detail
        if d is None or d.manque:
            return None
        text = f"{d.libelle} : {d.texte(unit=False)}"
        return text + (f" ({d.quand()})" if d.quand() != self.figure.quand() else "")


def headline_text(v: Valeur) -> str:
    """A headline figure without a rate's long unit (the label carries it); counted units agree in number."""
    if v.manque:
        return fmt.NO_DATA
    unit = "" if (v.unite.startswith("pour ") or " pour " in v.unite) else v.unite
    return counted(v.valeur, unit, v.decimales)


def _sentence(text: str) -> str:
    """Capitalised, ending with one full stop ("… pour 1 000 hab." is not given a second one)."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def comparison_text(figure: Valeur, peers: list[Valeur], t: Territory) -> str | None:
    """Where the figure stands against the median of the comparable territories, in one sentence.

    Only peers whose figure has the same period, nature and source count (a simulated 2024 is
    not compared with a measured 2024). No peer, or none with the measure: a sentence says so.
    """
    if figure.manque or t.niveau == "france":
        return None
    if not peers:
        return "Pas de territoire comparable : voir plus bas pourquoi."
    same = [p.valeur for p in peers if not p.manque and (p.periode, p.nature, p.source)
            == (figure.periode, figure.nature, figure.source)]
    if not same:
        return f"Cette mesure manque chez les {peer_count_text(len(peers), t)}."
    median = float(pl.Series(same, dtype=pl.Float64).median())
    scale = max(abs(median), 1e-9)
    same_shown = fmt.number(figure.valeur, figure.decimales) == fmt.number(median, figure.decimales)
    if same_shown or abs(figure.valeur - median) <= 0.05 * scale:  # "au-dessus de 0,3 km : 0,3 km" reads false
        where = "Proche de"
    else:
        where = "Au-dessus de" if figure.valeur > median else "En dessous de"
    value = fmt.with_unit(median, figure.unite, figure.decimales)
    if len(same) == 1:
        text = f"{where} la seule valeur connue parmi les {peer_count_text(len(peers), t)} : {value}"
    elif len(same) < len(peers):
        text = (f"{where} la médiane des {fmt.number(len(same))} territoires qui ont cette mesure parmi les "
                f"{peer_count_text(len(peers), t)} : {value}")
    else:
        text = f"{where} la médiane des {peer_count_text(len(same), t)} : {value}"
    return _sentence(text)


def trend_text(figure: Valeur, evolution: Evolution | None, trend_figure: Valeur | None = None) -> str | None:
    """The trend in one sentence: "+19 % depuis décembre 2021 (3,4)", or why there is none."""
    if figure.manque:
        return None
    if trend_figure is not None:  # a domain whose trend is an indicator of its own
        if trend_figure.manque:  # the indicator's own reason (no level has it offline: not "not at this level")
            reason = MISSING.get(trend_figure.indicateur) or trend_figure.raison or "non mesurée"
            return _sentence(f"Évolution {reason}" if reason.startswith("non ") else f"Évolution : {reason}")
        return _sentence(f"{trend_figure.libelle} : {trend_figure.texte()} ({trend_figure.quand()})")
    if evolution is None:
        return f"Une seule période publiée ({fmt.period(figure.periode or '')}) : pas d'évolution."
    before = fmt.with_unit(evolution.valeur_precedente, figure.unite, figure.decimales)
    pct = evolution.variation_pct
    change = fmt.signed_percent(pct) if pct is not None else "En hausse depuis zéro"
    return f"{change} depuis {fmt.period(evolution.periode_precedente)} ({before})."


def tile(domain: Domain, t: Territory, lookup: Lookup, peers: list[tuple[str, str]],
         evolution: EvolutionLookup, absence: str | None = None) -> Tile:
    """The tile of one domain for territory `t`.

    `lookup`: `dashboard.valeurs.valeur`; `peers`: the comparable territories' keys
    (`dashboard.compare.comparables`); `evolution`: `dashboard.valeurs.evolution`; `absence`: a
    sentence the caller knows better than the figure's reason (Inside Airbnb's partial coverage).
    """
    ind = domain.headline_for(t.niveau)
    figure = lookup(t.niveau, t.code, ind)
    detail = lookup(t.niveau, t.code, domain.detail)
    if figure.manque:
        why = absence or figure.raison or "pas de donnée pour ce territoire"
        return Tile(domain, figure, detail, absence=_sentence(why))
    notes = []
    if figure.nature == "estime" and domain.key in ESTIMATE_NOTES:
        notes.append(ESTIMATE_NOTES[domain.key])
    if figure.nature == "simule" and domain.key in SIMULATED_NOTES:
        notes.append(SIMULATED_NOTES[domain.key])
    peer_figures = [lookup(n, c, ind) for n, c in peers]
    trend_figure = lookup(t.niveau, t.code, domain.trend) if domain.trend else None
    return Tile(
        domain, figure, detail,
        comparaison=comparison_text(figure, peer_figures, t),
        tendance=trend_text(figure, None if domain.trend else evolution(t.niveau, t.code, ind), trend_figure),
        notes=notes,
    )


def tiles(t: Territory, lookup: Lookup, peers: list[tuple[str, str]], evolution: EvolutionLookup,
          absences: dict[str, str] | None = None) -> list[Tile]:
    """One tile per domain, in menu order (collaborative first)."""
    return [tile(d, t, lookup, peers, evolution, (absences or {}).get(d.key)) for d in DOMAINS]


# -- the balance -------------------------------------------------------------------------------------
POSITIONS = {"indice_collaboratif": "Adoption collaborative", "indice_plateformes": "Pénétration des plateformes"}


def index_text(value: float | None) -> str:
    """"72 / 100" (the brief prints the same)."""
    return f"{fmt.number(value)} / 100" if not fmt.is_missing(value) else "pas de note"


def identity_line(t: Territory, row: dict, lookup: Lookup, level_label: str) -> str:
    """One line instead of an identity card: level, code, population, dwellings, density (via `lookup`)."""
    parts = [level_label[:1].upper() + level_label[1:]]
    if t.niveau != "france":
        parts.append({"epci": "SIREN", "commune": "code Insee", "arrondissement": "code Insee"}.get(t.niveau, "code")
                     + f" {t.code}")
    if row.get("type_epci"):
        parts.append(row["type_epci"])
    if row.get("insulaire"):
        parts.append("commune d'une île")
    for ind, what in (("population", "habitants"), ("logements", "logements"), ("densite", None)):
        v = lookup(t.niveau, t.code, ind)
        if v.manque:
            continue
        big = fmt.compact(v.valeur)
        text = (big + (f" d'{what}" if what[0] in "aeiouh" else f" de {what}") if big.endswith("millions")
                else f"{big} {what}") if what else v.texte()
        parts.append(text + (f" ({fmt.period(v.periode)})" if ind == "logements" and v.periode else ""))
    return " · ".join(parts)


def national_picture(stored: pl.DataFrame) -> str:
    """What the indices say across France, in two sentences (France itself has no index: they compare
    territories of one level)."""
    dep = stored.filter(pl.col("niveau") == "departement")
    com = stored.filter(pl.col("niveau") == "commune")
    n = dep.height
    collab = dep["indice_collaboratif"].count()
    platforms = dep["indice_plateformes"].count()
    both_com = com.filter(pl.col("indice_collaboratif").is_not_null() & pl.col("indice_plateformes").is_not_null())
    text = (f"Les indices situent chaque territoire parmi ceux de son niveau : la France n'a pas de note. Sur les "
            f"{fmt.number(n)} départements, {fmt.number(collab)} ont un indice d'adoption collaborative ; ")
    if platforms:
        text += f"{fmt.number(platforms)} ont un indice de pénétration des plateformes."
    else:
        text += ("aucun n'a d'indice de pénétration des plateformes (Inside Airbnb ne relève que quelques villes, et "
                 "la hausse des VTC demande la base des équipements actuelle).")
    if both_com.height:
        counts = dict(both_com.group_by("quadrant").len().iter_rows())
        detail = ", ".join(f"{fmt.number(counts[q])} « {q} »" for q in
                           ("collaboratif", "plateformisé", "les deux", "ni l'un ni l'autre") if counts.get(q))
        text += (f" Le verdict se lit là où les deux sont mesurés : {fmt.number(both_com.height)} communes "
                 f"({detail}).")
    return text
