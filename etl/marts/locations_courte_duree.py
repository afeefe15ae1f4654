"""Short-term rentals (Inside Airbnb): listings per territory and snapshot, turnover, nights.

Method (see docs/locations-courte-duree.md):

- Every listing is placed by its coordinates (names cannot be trusted: Bordeaux's file drops
  accented letters, Lyon's has no commune column) in its commune and, in Paris, Lyon and
  Marseille, its arrondissement: `etl.geo.locate_points` (STRtree) on the commune and
  arrondissement polygons of the `contours` source. Listings in no polygon are counted.
- Coverage. A city's file covers the communes that are the majority commune of at least one
  of its Inside Airbnb neighbourhoods (for Bordeaux, the 28 communes of Bordeaux Métropole;
  for Lyon, the commune of Lyon: its 9 arrondissements). Listings that Inside Airbnb placed
  just across that perimeter (62 in Villeurbanne in December 2021...) are counted and left
  out: a commune holding a few stray points is not covered. Only covered communes get rows
  (a covered commune without listings gets 0); an EPCI, département, région or France gets
  rows only when all its communes are covered; anything else is "non couvert": no row.
- Counts are summed per commune (arrondissements rolled into their city by
  `etl.cog.harmonise_communes`), then up the levels (`etl.levels.roll_up`); shares are
  recomputed from the sums at each level. Medians and distinct hosts are computed from the
  listings of each territory directly (they do not add up).
- Periods are the snapshot's month "YYYY-MM" (the mirror knows only the month of the 2024
  snapshots); the publisher's exact date is kept in `locations/instantanes.parquet`.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from etl import geo
from etl import periods as etl_periods
from etl.cog import harmonise_communes
from etl.indicators import Indicator, long_rows
from etl.levels import FRANCE_CODE, ratio, roll_up
from etl.marts.base import BuildContext, Mart, MartResult
from etl.sources.base import Parsed
from etl.sources.contours import arrondissement_polygons, commune_polygons
from etl.sources.insideairbnb import ATTRIBUTION

SOURCE = "insideairbnb"
LICENCE = "CC BY 4.0 (attribution « Inside Airbnb »)"
SOURCE_LABEL = "Inside Airbnb"
DOMAIN = "locations_courte_duree"

ENTIRE = "Entire home/apt"
ROOM_TYPES = {
    "Entire home/apt": "Logement entier",
    "Private room": "Chambre privée",
    "Hotel room": "Chambre d'hôtel",
    "Shared room": "Chambre partagée",
}
OTHER_TYPE = "Autre"

# -- the nights model (Inside Airbnb's "San Francisco model"), stated once ---------------------
#: Share of stays that leave a review.
REVIEW_RATE = 0.5
#: Average stay in nights, unless the listing's minimum stay is longer.
AVERAGE_STAY = 3
#: Nights a year at most (70 % occupancy): the model never books a listing more than that.
MAX_NIGHTS = 255
#: Yearly cap for renting out a main residence in France (loi Le Meur 2024, formerly 120 nights).
NIGHTS_CAP = 120
#: A listing is "very available" above this many days of availability in the next 365.
AVAILABLE_DAYS = 60
#: A median price is published only above this many priced listings.
MIN_PRICES = 10

NIGHT_BINS = [(0, 0, "0"), (1, 30, "1 à 30"), (31, 60, "31 à 60"), (61, 90, "61 à 90"), (91, 120, "91 à 120"),
              (121, 180, "121 à 180"), (181, MAX_NIGHTS, f"181 à {MAX_NIGHTS}")]
HOST_CLASSES = [(1, 1, "1 annonce"), (2, 4, "2 à 4 annonces"), (5, 9, "5 à 9 annonces"), (10, None, "10 annonces et plus")]

#: Registration status of a listing (column `statut_numero`).
LICENCE_STATUSES = {
    "valide": "numéro bien formé",
    "exempte": "exemptée (type hôtel)",
    "bail_mobilite": "bail mobilité",
    "absent": "aucun numéro",
    "mal_forme": "numéro mal formé",
}

SUMS = [
    "annonces", "logements_entiers", "chambres_privees", "chambres_hotel", "chambres_partagees", "autres_types",
    "annonces_hotes_1", "annonces_hotes_2_4", "annonces_hotes_5_9", "annonces_hotes_10_plus", "annonces_hotes_multi",
    "tres_disponibles", "annonces_nuitees_connues", "nuitees_estimees", "entiers_nuitees_connues",
    "entiers_plus_120_nuits", "annonces_numero_connu", "numero_valide", "numero_exempte", "bail_mobilite",
    "numero_absent", "numero_mal_forme",
]

LEVEL_KEYS = [("commune", "code_commune"), ("arrondissement", "code_arrondissement"), ("epci", "code_epci"),
              ("departement", "code_departement"), ("region", "code_region"), ("france", "code_france")]


def _ind(ident: str, libelle: str, unite: str, definition: str, *, sens: int = 1, decimales: int = 1) -> Indicator:
    return Indicator(ident, libelle, unite, definition, "plateforme", DOMAIN, SOURCE_LABEL, LICENCE, sens=sens,
                     decimales=decimales)


_SHARE = " Recalculée à chaque niveau à partir des sommes des communes couvertes."
INDICATORS = (
    _ind("str_annonces", "Annonces de location de courte durée", "annonces",
         "Nombre d'annonces Airbnb actives dans l'instantané Inside Airbnb, placées dans la commune par leurs "
         "coordonnées. Territoires couverts seulement (voir la couverture).", decimales=0),
    _ind("str_annonces_pour_100_logements", "Annonces pour 100 logements", "annonces pour 100 logements",
         "Annonces / logements du recensement 2021 × 100." + _SHARE, decimales=2),
    _ind("str_annonces_pour_1000_hab", "Annonces pour 1 000 habitants", "annonces pour 1 000 hab.",
         "Annonces / population municipale (en vigueur en 2026) × 1 000." + _SHARE),
    _ind("str_part_logement_entier", "Part des logements entiers", "%",
         "Annonces de type « Entire home/apt » / annonces × 100." + _SHARE),
    _ind("str_part_hotes_multi", "Part des annonces d'hôtes multi-annonces", "%",
         "Annonces dont l'hôte a plus d'une annonce dans le fichier de la ville (calculated_host_listings_count > 1) "
         "/ annonces × 100." + _SHARE),
    _ind("str_part_hotes_10_plus", "Part des annonces d'hôtes à 10 annonces et plus", "%",
         "Annonces dont l'hôte a 10 annonces ou plus dans le fichier de la ville / annonces × 100." + _SHARE),
    _ind("str_part_tres_disponibles", "Part des annonces disponibles plus de 60 jours par an", "%",
         f"Annonces dont availability_365 > {AVAILABLE_DAYS} (jours ouverts à la réservation dans les 365 "
         "prochains) / annonces × 100." + _SHARE),
    _ind("str_nuitees_estimees", "Nuitées réservées estimées sur 12 mois", "nuitées",
         f"Estimation (modèle d'Inside Airbnb) : par annonce, commentaires des 12 derniers mois / {REVIEW_RATE:.0%} "
         f"de séjours commentés × durée de séjour (nuits minimum, au moins {AVERAGE_STAY}), plafonné à "
         f"{MAX_NIGHTS} nuits ; somme des annonces.", decimales=0),
    _ind("str_part_entiers_plus_120_nuits", "Part des logements entiers au-delà de 120 nuitées estimées", "%",
         f"Logements entiers dont les nuitées estimées dépassent {NIGHTS_CAP} (plafond annuel d'une résidence "
         "principale) / logements entiers × 100. Estimation : même modèle que les nuitées." + _SHARE),
    _ind("str_part_numero_valide", "Part des annonces avec un numéro d'enregistrement bien formé", "%",
         "Annonces affichant un numéro de 13 caractères (lettres ou chiffres) commençant par le code Insee de la "
         "commune ou de l'arrondissement où l'annonce se trouve / annonces × 100." + _SHARE, sens=-1),
    _ind("str_part_numero_exempt", "Part des annonces exemptées de numéro (type hôtel)", "%",
         "Annonces marquées « Exempt - hotel-type listing » / annonces × 100." + _SHARE, sens=0),
    _ind("str_part_bail_mobilite", "Part des annonces en bail mobilité", "%",
         "Annonces marquées « bail mobilité » (location de 1 à 10 mois, sans numéro) / annonces × 100." + _SHARE,
         sens=0),
    _ind("str_part_sans_numero", "Part des annonces sans numéro ou avec un numéro mal formé", "%",
         "Annonces sans numéro, ou dont le texte n'est ni un numéro bien formé, ni une exemption, ni un bail "
         "mobilité / annonces × 100." + _SHARE),
    _ind("str_prix_median", "Prix médian par nuit", "€ par nuit",
         f"Médiane des prix affichés (par nuit) des annonces qui en donnent un, publiée à partir de {MIN_PRICES} "
         "prix ; calculée sur les annonces du territoire, pas moyennée. Un tiers des annonces de mars 2024 n'ont "
         "pas de prix.", sens=0, decimales=0),
)

RATES = {
    "str_annonces_pour_100_logements": ("annonces", "logements", 100),
    "str_annonces_pour_1000_hab": ("annonces", "population", 1000),
    "str_part_logement_entier": ("logements_entiers", "annonces", 100),
    "str_part_hotes_multi": ("annonces_hotes_multi", "annonces", 100),
    "str_part_hotes_10_plus": ("annonces_hotes_10_plus", "annonces", 100),
    "str_part_tres_disponibles": ("tres_disponibles", "annonces", 100),
    "str_part_numero_valide": ("numero_valide", "annonces_numero_connu", 100),
    "str_part_numero_exempt": ("numero_exempte", "annonces_numero_connu", 100),
    "str_part_bail_mobilite": ("bail_mobilite", "annonces_numero_connu", 100),
    "str_part_sans_numero": ("sans_numero", "annonces_numero_connu", 100),
}
ESTIMATED = {"str_nuitees_estimees": "nuitees_estimees", "str_part_entiers_plus_120_nuits": "str_part_entiers_plus_120_nuits"}


# -- per listing ---------------------------------------------------------------------------------
def estimated_nights(reviews_ltm: pl.Expr, minimum_nights: pl.Expr) -> pl.Expr:
    """Nights booked in the last 12 months (model): reviews / review rate × stay, capped."""
    stay = pl.max_horizontal(minimum_nights.fill_null(AVERAGE_STAY), pl.lit(AVERAGE_STAY))
    nights = pl.min_horizontal(reviews_ltm / REVIEW_RATE * stay, pl.lit(MAX_NIGHTS))  # ignores nulls: guard below
    return pl.when(reviews_ltm.is_not_null()).then(nights).cast(pl.Float64)


def licence_status(licence: pl.Expr, code_commune: pl.Expr, code_arrondissement: pl.Expr) -> pl.Expr:
    """valide / exempte / bail_mobilite / absent / mal_forme (see LICENCE_STATUSES).

    Well formed: 13 letters or digits (spaces inside make it malformed) starting with the INSEE
    code of the commune or, in Paris/Lyon/Marseille, of the arrondissement where the listing is.
    """
    text = licence.str.strip_chars().str.strip_chars("\u00a0\u202f ").str.to_uppercase()
    shaped = text.str.contains(r"^[0-9A-Z]{13}$")
    local = text.str.starts_with(code_commune) | (
        code_arrondissement.is_not_null() & text.str.starts_with(code_arrondissement.fill_null("#")))
    return (
        pl.when(text.is_null() | (text == "")).then(pl.lit("absent"))
        .when(text.str.contains("EXEMPT")).then(pl.lit("exempte"))
        .when(text.str.contains("BAIL MOBILIT|MOBILITY LEASE")).then(pl.lit("bail_mobilite"))
        .when(shaped & local.fill_null(False)).then(pl.lit("valide"))
        .otherwise(pl.lit("mal_forme"))
    )


def _class_label(value: pl.Expr, classes: list[tuple[int, int | None, str]]) -> pl.Expr:
    expr = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for lo, hi, label in classes:
        cond = value >= lo if hi is None else value.is_between(lo, hi)
        expr = expr.when(cond).then(pl.lit(label))
    return expr.otherwise(None)


def listing_columns(df: pl.DataFrame, numero_connu: pl.Expr, nuitees_connues: pl.Expr) -> pl.DataFrame:
    """Per-listing flags and the 0/1 columns that are summed per territory."""
    hosts = pl.col("calculated_host_listings_count")
    nights = estimated_nights(pl.col("number_of_reviews_ltm").cast(pl.Float64), pl.col("minimum_nights"))
    entire = pl.col("room_type") == ENTIRE
    df = df.with_columns(
        type_logement=pl.col("room_type").replace_strict(ROOM_TYPES, default=OTHER_TYPE),
        nuitees_estimees=pl.when(nuitees_connues).then(nights),
        statut_numero=pl.when(numero_connu).then(
            licence_status(pl.col("license"), pl.col("code_commune"), pl.col("code_arrondissement"))),
        classe_hote=_class_label(hosts, HOST_CLASSES),
    )
    flag = {
        "annonces": pl.lit(True),
        "logements_entiers": entire,
        "chambres_privees": pl.col("room_type") == "Private room",
        "chambres_hotel": pl.col("room_type") == "Hotel room",
        "chambres_partagees": pl.col("room_type") == "Shared room",
        "autres_types": ~pl.col("room_type").is_in(list(ROOM_TYPES)).fill_null(False),
        "annonces_hotes_1": hosts == 1,
        "annonces_hotes_2_4": hosts.is_between(2, 4),
        "annonces_hotes_5_9": hosts.is_between(5, 9),
        "annonces_hotes_10_plus": hosts >= 10,
        "annonces_hotes_multi": hosts > 1,
        "tres_disponibles": pl.col("availability_365") > AVAILABLE_DAYS,
        "annonces_nuitees_connues": pl.col("nuitees_estimees").is_not_null(),
        "entiers_nuitees_connues": entire & pl.col("nuitees_estimees").is_not_null(),
        "entiers_plus_120_nuits": entire & (pl.col("nuitees_estimees") > NIGHTS_CAP),
        "annonces_numero_connu": pl.col("statut_numero").is_not_null(),
        "numero_valide": pl.col("statut_numero") == "valide",
        "numero_exempte": pl.col("statut_numero") == "exempte",
        "bail_mobilite": pl.col("statut_numero") == "bail_mobilite",
        "numero_absent": pl.col("statut_numero") == "absent",
        "numero_mal_forme": pl.col("statut_numero") == "mal_forme",
    }
    return df.with_columns([e.fill_null(False).cast(pl.Float64).alias(f"_{k}") for k, e in flag.items()]).with_columns(
        _nuitees_estimees=pl.col("nuitees_estimees"))


# -- geography -------------------------------------------------------------------------------------
def assign(listings: pl.DataFrame, polygons: pl.DataFrame) -> pl.DataFrame:
    """Add `code_commune` and `code_arrondissement` (Paris, Lyon, Marseille) by point in polygon."""
    lon, lat = listings["longitude"].to_numpy(), listings["latitude"].to_numpy()
    out = {}
    for col, select, some in (("code_commune", commune_polygons, True),
                              ("code_arrondissement", arrondissement_polygons, False)):
        part = select(polygons)
        found = geo.locate_points(lon, lat, geo.from_wkb(part["geometry"]), part["code"].to_list(),
                                  what=f"annonces ({col})", require_some=some)
        out[col] = pl.Series(col, found.tolist(), dtype=pl.String)
    return listings.with_columns(**out)


def coverage(listings: pl.DataFrame) -> pl.DataFrame:
    """Communes covered by each city snapshot: the majority commune of one of its neighbourhoods.

    Inside Airbnb cuts each city into neighbourhoods (Bordeaux's communes and quarters, Lyon's
    arrondissements); the commune where most of a neighbourhood's listings fall is covered.
    A commune where only a few listings strayed across the perimeter is not.
    """
    located = listings.filter(pl.col("code_commune").is_not_null()).with_columns(
        _quartier=pl.coalesce("neighbourhood", "neighbourhood_group", pl.lit(""))
    )
    counts = located.group_by("ville", "instantane", "_quartier", "code_commune").len()
    return (
        counts.with_columns(_share=pl.col("len") / pl.col("len").sum().over("ville", "instantane", "_quartier"))
        .filter(pl.col("_share") > 0.5)
        .select("ville", "instantane", "code_commune")
        .unique()
        .sort("ville", "instantane", "code_commune")
    )


def covered_territories(covered_communes: pl.Series, communes: pl.DataFrame, arrondissements: pl.DataFrame
                        ) -> pl.DataFrame:
    """Every territory covered by a set of communes: those communes, their arrondissements, and
    the EPCI, départements, régions and France all of whose communes are in the set."""
    inside = communes.with_columns(_in=pl.col("code").is_in(covered_communes.implode()))
    frames = [
        pl.DataFrame({"niveau": "commune", "code": covered_communes.sort()}),
        arrondissements.filter(pl.col("code_commune").is_in(covered_communes.implode()))
        .select(pl.lit("arrondissement").alias("niveau"), "code"),
    ]
    for level, key in (("epci", "code_epci"), ("departement", "code_departement"), ("region", "code_region")):
        full = inside.filter(pl.col(key).is_not_null()).group_by(key).agg(pl.col("_in").all()).filter("_in")
        frames.append(full.select(pl.lit(level).alias("niveau"), pl.col(key).alias("code")))
    if inside["_in"].all():
        frames.append(pl.DataFrame({"niveau": ["france"], "code": [FRANCE_CODE]}))
    return pl.concat(frames).sort("niveau", "code")


def by_level(df: pl.DataFrame, by: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """Aggregate listings directly at every level (for what does not add up: medians, distinct hosts)."""
    frames = []
    for niveau, key in LEVEL_KEYS:
        part = df.filter(pl.col(key).is_not_null()).group_by([*by, key]).agg(aggs)
        frames.append(part.select(pl.lit(niveau).alias("niveau"), pl.col(key).alias("code"), *by,
                                  pl.exclude([*by, key])))
    return pl.concat(frames)


def perimeter_label(codes: list[str], territoires: pl.DataFrame) -> tuple[str, str | None, str | None]:
    """A French name for a set of covered communes, and the territory it equals (if any)."""
    communes = territoires.filter(pl.col("niveau") == "commune")
    chosen = communes.filter(pl.col("code").is_in(codes))
    epcis = chosen["code_epci"].unique().drop_nulls()
    if len(codes) > 1 and len(epcis) == 1:
        members = communes.filter(pl.col("code_epci") == epcis[0]).height
        epci = territoires.filter((pl.col("niveau") == "epci") & (pl.col("code") == epcis[0])).row(0, named=True)
        if members == len(codes):
            return f"{epci['nom']} ({len(codes)} communes)", "epci", epci["code"]
    if len(codes) == 1:
        row = chosen.row(0, named=True)
        n_arr = territoires.filter((pl.col("niveau") == "arrondissement") & (pl.col("code_commune") == codes[0])).height
        return (f"{row['nom']} ({n_arr} arrondissements)" if n_arr else row["nom"]), "commune", row["code"]
    return f"{len(codes)} communes", None, None


# -- the mart -----------------------------------------------------------------------------------------
class LocationsCourteDuree(Mart):
    name = "locations_courte_duree"
    title = "Locations de courte durée (Inside Airbnb)"
    sources = ("insideairbnb", "contours")
    requires = ("territoires",)
    indicators = INDICATORS

    def build(self, ctx: BuildContext, parsed: dict[str, Parsed]) -> MartResult:
        raw = parsed["insideairbnb"].frame
        snaps = parsed["insideairbnb"].tables["instantanes"]
        territoires = ctx.read("territoires.parquet")
        communes = territoires.filter(pl.col("niveau") == "commune")
        arrondissements = territoires.filter(pl.col("niveau") == "arrondissement")
        rejected: Counter = Counter()
        notes: list[str] = []

        # -- where each listing stands -------------------------------------------------------------
        located = assign(raw, parsed["contours"].tables["communes"])
        nowhere = located.filter(pl.col("code_commune").is_null())
        if nowhere.height:
            rejected["annonce hors de tout contour communal"] += nowhere.height
            for ville, inst, n in nowhere.group_by("ville", "instantane").len().sort("ville", "instantane").iter_rows():
                notes.append(f"{ville} {inst} : {n} annonce(s) hors de tout contour communal")
        covered = coverage(located)
        kept = located.join(covered.with_columns(_couvert=pl.lit(True)), on=["ville", "instantane", "code_commune"],
                            how="left")
        outside = kept.filter(pl.col("code_commune").is_not_null() & pl.col("_couvert").is_null())
        if outside.height:
            rejected["annonce hors du périmètre couvert par sa ville"] += outside.height
            names = dict(communes.select("code", "nom").iter_rows())
            for (ville, inst), part in outside.group_by("ville", "instantane", maintain_order=True):
                detail = part.group_by("code_commune").len().sort("len", "code_commune", descending=[True, False])
                notes.append(f"{ville} {inst} : {part.height} annonce(s) hors du périmètre couvert ("
                             + ", ".join(f"{names.get(c, c)} {n}" for c, n in detail.iter_rows()) + ")")
        kept = kept.filter(pl.col("_couvert").fill_null(False)).drop("_couvert")
        twice = kept.filter(pl.struct("instantane", "id").is_duplicated())
        if twice.height:
            n = twice.height - twice.select(pl.struct("instantane", "id").n_unique()).item()
            rejected["annonce présente dans les fichiers de deux villes"] += n
            kept = kept.sort("ville").unique(["instantane", "id"], keep="first")

        flags = snaps.select("ville", "instantane", "numero_fourni", "nuitees_calculables")
        kept = kept.join(flags, on=["ville", "instantane"], how="left")
        kept = listing_columns(kept, pl.col("numero_fourni"), pl.col("nuitees_calculables"))
        kept = kept.join(communes.select(pl.col("code").alias("code_commune"), "code_epci", "code_departement",
                                         "code_region"), on="code_commune", how="left").with_columns(
            code_france=pl.lit(FRANCE_CODE))

        # -- sums per commune, up the levels, covered territories only ------------------------------
        periods = etl_periods.sort(kept["instantane"].unique().to_list())
        empty_passage = pl.DataFrame(schema={"code_ancien": pl.String, "code_actuel": pl.String})
        sum_frames, covered_keys = [], []
        for period in periods:
            these = covered.filter(pl.col("instantane") == period)["code_commune"].unique().sort()
            keys = covered_territories(these, communes, arrondissements).with_columns(instantane=pl.lit(period))
            covered_keys.append(keys)
            rows = kept.filter(pl.col("instantane") == period).select(
                pl.coalesce("code_arrondissement", "code_commune").alias("code"), *[pl.col(f"_{c}").alias(c) for c in SUMS])
            # covered communes and arrondissements without any listing count 0, not "no data"
            zeros = keys.filter(pl.col("niveau").is_in(["commune", "arrondissement"])).select(
                "code", *[pl.lit(0.0).alias(c) for c in SUMS])
            harm = harmonise_communes(
                pl.concat([rows, zeros]), code_col="code", sum_cols=SUMS, passage=empty_passage,
                communes=communes["code"], arrondissements=arrondissements.select("code", "code_commune"),
                arrondissement_mode="rollup",
            )
            rolled = roll_up(harm.communes, communes, SUMS, arrondissements=harm.arrondissements)
            sum_frames.append(rolled.join(keys, on=["niveau", "code"], how="semi").with_columns(
                instantane=pl.lit(period)))
        keys = pl.concat(covered_keys)
        sums = pl.concat(sum_frames)

        # -- what does not add up: medians, distinct hosts ------------------------------------------
        direct = by_level(kept, ["instantane"], [
            pl.col("price").drop_nulls().len().alias("annonces_avec_prix"),
            pl.col("price").median().alias("prix_median"),
            pl.col("host_id").n_unique().alias("hotes"),
        ]).join(keys, on=["niveau", "code", "instantane"], how="semi")
        wide = (
            sums.join(direct, on=["niveau", "code", "instantane"], how="left")
            .with_columns(
                pl.col("annonces_avec_prix").fill_null(0), pl.col("hotes").fill_null(0),
                sans_numero=pl.col("numero_absent") + pl.col("numero_mal_forme"),
                prix_median=pl.when(pl.col("annonces_avec_prix") >= MIN_PRICES).then(pl.col("prix_median")),
            )
            .join(territoires.select("niveau", "code", "population", "logements"), on=["niveau", "code"], how="left")
        )
        wide = wide.with_columns(
            **{ind: ratio(num, den, scale) for ind, (num, den, scale) in RATES.items()},
            str_part_entiers_plus_120_nuits=ratio("entiers_plus_120_nuits", "entiers_nuitees_connues", 100),
            nuitees_estimees=pl.when(pl.col("annonces_nuitees_connues") == pl.col("annonces"))
            .then(pl.col("nuitees_estimees")),
        )
        periode = pl.col("instantane")
        indicateurs = pl.concat([
            long_rows(wide, {"annonces": "str_annonces", "prix_median": "str_prix_median", **{k: k for k in RATES}},
                      periode=periode, nature="reel", source=SOURCE),
            long_rows(wide, {v: k for k, v in ESTIMATED.items()}, periode=periode, nature="estime", source=SOURCE),
        ])
        int_cols = [c for c in SUMS if c != "nuitees_estimees"] + ["sans_numero"]
        detail = wide.select(
            "niveau", "code", "instantane", *[pl.col(c).cast(pl.Int64) for c in int_cols],
            pl.col("nuitees_estimees").round(0), pl.col("annonces_avec_prix").cast(pl.Int64),
            pl.col("prix_median"), pl.col("hotes").cast(pl.Int64),
        ).sort("instantane", "niveau", "code")

        # -- detail tables for the page --------------------------------------------------------------
        points = kept.select(
            "instantane", "ville", pl.col("id").cast(pl.String), pl.col("name").alias("nom"), "type_logement",
            pl.col("longitude").round(5), pl.col("latitude").round(5), "code_commune", "code_arrondissement",
            pl.col("price").alias("prix"), pl.col("minimum_nights").cast(pl.Int32).alias("nuits_minimum"),
            pl.col("nuitees_estimees").round(0).cast(pl.Int16), pl.col("calculated_host_listings_count").cast(pl.Int32)
            .alias("annonces_hote"), pl.col("availability_365").cast(pl.Int16).alias("disponibilite_365"),
            "statut_numero", pl.col("license").str.slice(0, 60).alias("numero"),
        ).sort("instantane", "ville", "code_commune", "id")
        nights = self._nights(kept, keys)
        turnover, city_turnover = self._turnover(raw, kept, keys)
        instantanes = self._snapshots(snaps, located, kept, covered, city_turnover, territoires)
        notes.append(
            "couverture : " + " ; ".join(f"{r['nom_ville']} {r['instantane']} : {r['perimetre']}"
                                         for r in instantanes.iter_rows(named=True)))
        tables = {
            "locations/territoires.parquet": detail,
            "locations/annonces.parquet": points,
            "locations/nuitees.parquet": nights,
            "locations/rotation.parquet": turnover,
            "locations/instantanes.parquet": instantanes,
        }
        return MartResult(tables=tables, indicateurs=indicateurs, rejected=rejected, notes=notes)

    @staticmethod
    def _nights(kept: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
        """Listings per class of estimated nights, entire homes apart (the 120-night cap)."""
        order = {label: i for i, (_, _, label) in enumerate(NIGHT_BINS)}
        binned = kept.filter(pl.col("nuitees_estimees").is_not_null()).with_columns(
            classe=_class_label(pl.col("nuitees_estimees").ceil(), NIGHT_BINS),
            logement_entier=pl.col("room_type") == ENTIRE,
        )
        out = by_level(binned, ["instantane", "logement_entier", "classe"], [pl.len().alias("annonces")])
        return (
            out.join(keys, on=["niveau", "code", "instantane"], how="semi")
            .with_columns(ordre=pl.col("classe").replace_strict(order, return_dtype=pl.Int8),
                          annonces=pl.col("annonces").cast(pl.Int64))
            .select("niveau", "code", "instantane", "logement_entier", "ordre", "classe", "annonces")
            .sort("instantane", "niveau", "code", "logement_entier", "ordre")
        )

    @staticmethod
    def _turnover(raw: pl.DataFrame, kept: pl.DataFrame, keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Listings that stayed, appeared, disappeared between consecutive snapshots of a city, by id.

        Ids are compared over the whole city file. A listing that stayed or appeared is counted
        where it stands in the later snapshot; one that disappeared where it stood in the earlier.
        """
        frames, totals = [], []
        for ville in sorted(raw["ville"].unique()):
            months = etl_periods.sort(raw.filter(pl.col("ville") == ville)["instantane"].unique())  # typed, not text
            for before, after in zip(months, months[1:], strict=False):
                ids_before = raw.filter((pl.col("ville") == ville) & (pl.col("instantane") == before))["id"]
                ids_after = raw.filter((pl.col("ville") == ville) & (pl.col("instantane") == after))["id"]
                later = kept.filter((pl.col("ville") == ville) & (pl.col("instantane") == after)).with_columns(
                    mouvement=pl.when(pl.col("id").is_in(ids_before.implode())).then(pl.lit("restees"))
                    .otherwise(pl.lit("apparues")))
                earlier = kept.filter((pl.col("ville") == ville) & (pl.col("instantane") == before)
                                      & ~pl.col("id").is_in(ids_after.implode())).with_columns(
                    mouvement=pl.lit("disparues"))
                both = pl.concat([later, earlier]).with_columns(debut=pl.lit(before), fin=pl.lit(after))
                frames.append(by_level(both, ["debut", "fin", "type_logement", "mouvement"], [pl.len().alias("n")]))
                stayed = ids_before.is_in(ids_after.implode()).sum()
                totals.append({"ville": ville, "instantane": after, "restees": int(stayed),
                               "apparues": int(ids_after.len() - stayed), "disparues": int(ids_before.len() - stayed)})
        schema = {"niveau": pl.String, "code": pl.String, "debut": pl.String, "fin": pl.String,
                  "type_logement": pl.String, "restees": pl.Int64, "apparues": pl.Int64, "disparues": pl.Int64}
        if not frames:
            return pl.DataFrame(schema=schema), pl.DataFrame(schema={"ville": pl.String, "instantane": pl.String,
                                                                       "restees": pl.Int64, "apparues": pl.Int64,
                                                                       "disparues": pl.Int64})
        # a territory is kept where it is covered in both snapshots
        k = keys.select("niveau", "code", "instantane")
        flows = (
            pl.concat(frames)
            .join(k.rename({"instantane": "debut"}), on=["niveau", "code", "debut"], how="semi")
            .join(k.rename({"instantane": "fin"}), on=["niveau", "code", "fin"], how="semi")
            .group_by("niveau", "code", "debut", "fin", "type_logement")
            .agg([pl.col("n").filter(pl.col("mouvement") == m).sum().alias(m) for m in ("restees", "apparues",
                                                                                           "disparues")])
        )
        return flows.select(list(schema)).cast(schema).sort("debut", "niveau", "code", "type_logement"), pl.DataFrame(totals)

    @staticmethod
    def _snapshots(snaps: pl.DataFrame, located: pl.DataFrame, kept: pl.DataFrame, covered: pl.DataFrame,
                   city_turnover: pl.DataFrame, territoires: pl.DataFrame) -> pl.DataFrame:
        """One row per city snapshot: its date, counts, coverage and the changes since the previous one."""
        rows = []
        for s in snaps.sort("ville", "instantane").iter_rows(named=True):
            mine = (pl.col("ville") == s["ville"]) & (pl.col("instantane") == s["instantane"])
            codes = covered.filter(mine)["code_commune"].sort().to_list()
            label, niveau, code = perimeter_label(codes, territoires) if codes else ("aucune commune", None, None)
            here = located.filter(mine)
            rows.append({
                "ville": s["ville"], "nom_ville": s["nom_ville"], "region": s["region"], "instantane": s["instantane"],
                "date_instantane": s["date_instantane"], "dernier_commentaire": s["dernier_commentaire"],
                "annonces_fichier": s["annonces"],
                "annonces_retenues": kept.filter(mine).height,
                "hors_contour": here.filter(pl.col("code_commune").is_null()).height,
                "hors_perimetre": here.height - here.filter(pl.col("code_commune").is_null()).height
                - kept.filter(mine).height,
                "perimetre": label, "perimetre_niveau": niveau, "perimetre_code": code,
                "communes_couvertes": codes, "numero_fourni": s["numero_fourni"],
                "nuitees_calculables": s["nuitees_calculables"], "attribution": ATTRIBUTION,
            })
        out = pl.DataFrame(rows).join(city_turnover, on=["ville", "instantane"], how="left")
        return out.sort("ville", "instantane")


MART = LocationsCourteDuree()

