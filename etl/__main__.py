"""The ETL command line: `python -m etl list | check-live | run | export | simulate-rpc`.

    python -m etl list
    python -m etl check-live
    python -m etl check-live bpe insideairbnb
    python -m etl run --all --mirror ../shared/opendata
    python -m etl run communes insee_logement --out /tmp/data
    python -m etl export --niveau commune --parent 33 --indicateurs population,logements --format xlsx
    python -m etl run rpc --months 2024-01..2024-12
    python -m etl simulate-rpc --months 2024-01..2024-12 --out /tmp/rpc
"""

from __future__ import annotations

from etl import allocator

allocator.tune()  # before anything imports polars (etl/allocator.py)

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from etl import config  # noqa: E402

#: Where `export` writes when no --out is given (relative to the current directory, git-ignored).
DEFAULT_EXPORTS = "exports"

#: `list` shows at most this many discovered files of a source (then how many more).
LIST_FILES = 12


def cmd_list(args: argparse.Namespace) -> int:
    from etl import registry
    from etl.check_live import read_state
    from etl.sources.base import Source
    from etl.store import StoreError, read_manifest

    try:
        manifest = read_manifest(Path(args.out))["sources"]
    except StoreError as exc:  # the list of sources does not need it
        print(f"Attention : {exc}", file=sys.stderr)
        manifest = {}
    checks = read_state(Path(args.out))
    for name, src in registry.sources().items():
        seen = manifest.get(name, {})
        checked = checks.get(name, {})
        retrieved = seen.get("recupere_le")
        when = f"{retrieved} ({seen.get('origine')})" if retrieved else "jamais"
        print(f"{name}")
        print(f"    {src.title}")
        for url in src.describe()["urls"]:
            print(f"    url       : {url}")
        for r in src.resources_:
            for url in r.fallbacks:
                print(f"    repli     : {url}")
        if type(src).resources is not Source.resources:  # files found online, or chosen by the run's options
            for line in _found_files(seen, checked):
                print(f"    {line}")
        print(f"    licence   : {src.licence}")
        print(f"    millésime : {src.vintage}   nature : {src.nature}")
        print(f"    récupéré  : {when}")
        print(f"    format    : {_format_checked(src, seen, checked)}")
    return 0


def _found_files(seen: dict, checked: dict) -> list[str]:
    """The files a live run will read: as found by the latest check-live or live run (the more recent)."""
    run = (seen.get("recupere_le") or "", "exécution", [f.get("url") for f in (seen.get("fichiers") or {}).values()],
           seen.get("decouverte")) if seen.get("origine") == "live" else None
    check = (checked.get("verifie_le") or "", "check-live", checked.get("urls") or [], checked.get("decouverte")) \
        if checked.get("urls") else None
    latest = max((x for x in (run, check) if x), default=None, key=lambda x: x[0])
    if latest is None:
        return ["fichiers  : connus au moment de l'exécution (pas encore d'exécution ni de vérification en ligne)"]
    when, how, urls, found = latest
    method = f", {found['methode']}" if found and found.get("methode") else ""
    lines = [f"fichiers  : {len(urls)} trouvé(s) le {when[:10]} ({how}{method}) :"]
    lines += [f"    {u}" for u in urls[:LIST_FILES]]
    if len(urls) > LIST_FILES:
        lines.append(f"    … et {len(urls) - LIST_FILES} autre(s)")
    return lines


def _format_checked(src, seen: dict, checked: dict) -> str:
    """When the live format was last checked: by check-live, or by a live run (which parses every file)."""
    if src.archive:
        return "archive lue dans le miroir (pas de fichier en ligne dans ce format)"
    run = (seen.get("recupere_le") or "", "lu par une exécution en ligne : ok") if seen.get("origine") == "live" else None
    check = None
    if checked.get("verifie_le"):
        detail = f" ({checked['detail']})" if checked.get("detail") else ""
        check = (checked["verifie_le"], f"check-live : {checked.get('etat')}{detail}")
    latest = max((x for x in (run, check) if x), default=None, key=lambda x: x[0])
    if latest is None:
        return "jamais vérifié en ligne"
    return f"vérifié le {latest[0][:10]} ({latest[1]})"


def cmd_check_live(args: argparse.Namespace) -> int:
    import time

    from etl.check_live import GOOD, check, summary
    from etl.sources.base import SourceError

    options = _source_options(args)
    if options is None:
        return 2
    start = time.monotonic()
    try:
        results = check(args.sources or None, out_dir=Path(args.out), options=options, total_timeout=args.delai)
    except SourceError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(r.line())
    print(summary(results, time.monotonic() - start))
    return 0 if all(r.status in GOOD for r in results) else 1


def _source_options(args: argparse.Namespace) -> dict | None:
    """The run options given on the command line (`--vtc-source`, `-o CLE=VALEUR`...); None when malformed."""
    options = {k: v for k, v in vars(args).items()
               if k not in {"func", "sources", "all", "mirror", "out", "option", "quiet", "delai", "command",
                            "accepter_baisse"}
               and v is not None}
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"Option mal formée : {item!r} (attendu : CLE=VALEUR)", file=sys.stderr)
            return None
        options[key.strip()] = value.strip()
    return options


#: Exit codes of `python -m etl run`.
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def cmd_run(args: argparse.Namespace) -> int:
    """Exit 0 when everything was rebuilt, 1 when a source or a mart failed (its previous files
    stay), 2 for a bad command line or an unusable folder, 3 when another run holds the folder."""
    from etl.runner import format_report, run
    from etl.sources.base import SourceError
    from etl.store import FolderLocked, StoreError

    if not args.all and not args.sources:
        print("Indiquer des sources ou --all (voir `python -m etl list`).", file=sys.stderr)
        return 2
    mirror = Path(args.mirror) if args.mirror else None
    if mirror is not None and not mirror.is_dir():
        print(f"Dossier miroir introuvable : {mirror}", file=sys.stderr)
        return 2
    options = _source_options(args)
    if options is None:
        return 2
    try:
        report = run(None if args.all else args.sources, out_dir=Path(args.out), mirror=mirror, options=options,
                     progress=not args.quiet, accept_drop=args.accepter_baisse or ())
    except FolderLocked as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (SourceError, StoreError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the folder itself: read-only, full disk
        print(f"Erreur : écriture impossible dans {args.out} ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_ERRORS
    print(format_report(report))
    return EXIT_OK if report.ok else EXIT_ERRORS


def _add_source_options(p: argparse.ArgumentParser) -> None:
    """Options that choose what a source fetches: the same for `run` and `check-live`."""
    p.add_argument("--vtc-source", choices=["bpe", "sirene"],
                   help="comptage des taxis-VTC : BPE de l'Insee (défaut) ou établissements Sirene NAF 49.32Z")
    p.add_argument("--sirene-departements", help="avec --vtc-source sirene : départements à lire (ex. 33,75 ; "
                                                 "Paris : ses 20 fichiers d'arrondissement)")
    p.add_argument("-o", "--option", action="append", metavar="CLE=VALEUR",
                   help="option d'une source, répétable (ex. : -o insideairbnb.fichier=detaille)")
    p.add_argument("--months", help="mois des fichiers du registre de covoiturage (rpc), par exemple "
                   "2024-01..2024-12 (défaut : les 12 derniers publiés ; en mode miroir, les 12 mois de 2024 simulés)")


def export_formats() -> tuple[str, ...]:
    from etl.export import FORMATS

    return tuple(FORMATS)


def export_layouts() -> tuple[str, ...]:
    from etl.export import LAYOUTS

    return tuple(LAYOUTS)


def cmd_export(args: argparse.Namespace) -> int:
    import time

    from dashboard import fmt
    from etl import export
    from etl.store import StoreError

    start = time.perf_counter()
    out = Path(args.out) if args.out else None
    fmt_id = args.format
    if fmt_id is None:  # from the extension of --out, else French Excel's CSV
        ext = out.suffix.lower().lstrip(".") if out is not None else ""
        fmt_id = next((f for f, spec in export.FORMATS.items() if spec[0] == ext), "csv-fr")
    layout = args.layout or ("wide" if fmt_id == "geojson" else "long")
    request = export.Request(
        niveau=args.niveau, codes=export.split_list(args.codes), parent=args.parent,
        indicateurs=export.split_list(args.indicateurs), periodes=export.split_list(args.periode),
        layout=layout, format=fmt_id,
    )
    try:
        plan = export.plan(request, Path(args.data))
        if out is None:  # never the repository root: a git-ignored folder of the current directory
            out = Path(DEFAULT_EXPORTS) / plan.filename
        elif out.is_dir() or args.out.endswith(("/", "\\")):
            out = out / plan.filename
        elif out.suffix.lower().lstrip(".") != plan.extension:
            raise export.ExportError(f"l'extension de --out ({out.name}) ne correspond pas au format {fmt_id} "
                                     f"(.{plan.extension})")
    except (export.ExportError, StoreError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    for warning in plan.warnings:
        print(f"Attention : {warning}", file=sys.stderr)
    written = export.write(plan, out)
    print(plan.describe())
    for path in written:
        print(f"    {path}  ({fmt.number(path.stat().st_size / 1024, 1)} ko)")
    print(f"    en {fmt.number(time.perf_counter() - start, 1)} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description="ETL de l'observatoire de l'économie collaborative")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="les sources : URL utilisées, licence, millésime, dernière récupération, "
                                         "dernière vérification du format")
    p_list.add_argument("--out", default=str(config.data_dir()), help="dossier des marts (défaut : data/)")
    p_list.set_defaults(func=cmd_list)

    p_chk = sub.add_parser(
        "check-live", help="vérifier, sans rien télécharger en entier, que chaque source en ligne répond et garde "
                           "son format (avant un rafraîchissement)",
        description="Pour chaque source : ok, format changé (colonnes ou champs manquants ou nouveaux), injoignable "
                    "(statut HTTP ou erreur réseau), ou inchangé depuis le dernier téléchargement. Code de sortie 0 "
                    "seulement si toutes les sources sont ok ou inchangées.",
    )
    p_chk.add_argument("sources", nargs="*", help="noms des sources (défaut : celles d'un `run --all`)")
    p_chk.add_argument("--out", default=str(config.data_dir()),
                       help="dossier des marts, dont raw/ garde les derniers téléchargements (défaut : data/)")
    p_chk.add_argument("--delai", type=float, default=180.0, help="durée maximale de toute la vérification, en "
                                                                  "secondes (défaut : 180)")
    _add_source_options(p_chk)
    p_chk.set_defaults(func=cmd_check_live)

    p_run = sub.add_parser("run", help="récupérer des sources et reconstruire les marts qui les lisent")
    p_run.add_argument("sources", nargs="*", help="noms des sources (voir `list`)")
    p_run.add_argument("--all", action="store_true", help="toutes les sources")
    p_run.add_argument("--mirror", nargs="?", const=str(config.mirror_dir()),
                       help="lire un miroir local au lieu des URL en ligne (sans chemin : ../shared/opendata)")
    p_run.add_argument("--out", default=str(config.data_dir()), help="dossier des marts (défaut : data/)")
    p_run.add_argument("--quiet", action="store_true", help="sans barres de progression")
    p_run.add_argument("--accepter-baisse", action="append", metavar="SOURCE",
                       help="accepter que cette source baisse de plus que son seuil (10 %% des lignes par défaut) "
                            "par rapport à sa version précédente ; répétable")
    _add_source_options(p_run)
    p_run.add_argument("--seuil-flux", type=int, help="passagers par mois en dessous desquels une paire origine-"
                       "destination de covoiturage n'est pas gardée (défaut : 10, comme l'observatoire)")
    p_run.set_defaults(func=cmd_run)

    p_exp = sub.add_parser(
        "export", help="extraire des indicateurs pour des territoires (CSV, XLSX, Parquet, GeoJSON)",
        description="Extraire des lignes de la table indicateurs, avec le dictionnaire des colonnes et les "
                    "attributions des sources (même code que la page « Données et téléchargements »).",
    )
    p_exp.add_argument("--niveau", required=True, help="commune, arrondissement, epci, departement, region ou france")
    where = p_exp.add_mutually_exclusive_group()
    where.add_argument("--parent", help="tous les territoires du niveau dans ce territoire : 33, region:75, "
                                        "epci:243300316 (un EPCI appartient au département qui porte le plus de "
                                        "sa population) ; sans --parent ni --codes : toute la France")
    where.add_argument("--codes", help="codes séparés par des virgules (codes Insee, SIREN d'EPCI)")
    p_exp.add_argument("--indicateurs", help="identifiants séparés par des virgules (défaut : tout le catalogue)")
    p_exp.add_argument("--periode", help="une ou plusieurs périodes (2024 comprend ses mois), all (défaut), ou "
                                         "courante : la valeur que montre le tableau de bord (dernière période)")
    p_exp.add_argument("--layout", choices=list(export_layouts()), help="long (défaut) ou wide (une colonne par "
                                                                        "indicateur et période)")
    p_exp.add_argument("--format", choices=list(export_formats()),
                       help="csv-fr (défaut : Excel en français), csv, xlsx, parquet, geojson")
    p_exp.add_argument("--out", help="fichier ou dossier de sortie (défaut : un nom qui dit ce que contient le "
                                     f"fichier, dans le dossier {DEFAULT_EXPORTS}/ du dossier courant)")
    p_exp.add_argument("--data", default=str(config.data_dir()), help="dossier des marts (défaut : data/)")
    p_exp.set_defaults(func=cmd_export)

    p_sim = sub.add_parser("simulate-rpc", help="écrire des fichiers mensuels simulés au format du registre de covoiturage")
    from etl.simulate_rpc import add_arguments, run_cli

    add_arguments(p_sim)
    p_sim.set_defaults(func=run_cli)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
