"""The ETL command line: `python -m etl list | run`.

    python -m etl list
    python -m etl run --all --mirror ../shared/opendata
    python -m etl run communes insee_logement --out /tmp/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl import config


def cmd_list(args: argparse.Namespace) -> int:
    from etl import registry
    from etl.store import read_manifest

    manifest = read_manifest(Path(args.out))["sources"]
    for name, src in registry.sources().items():
        seen = manifest.get(name, {})
        retrieved = seen.get("recupere_le")
        when = f"{retrieved} ({seen.get('origine')})" if retrieved else "jamais"
        print(f"{name}")
        print(f"    {src.title}")
        for url in src.describe()["urls"]:
            print(f"    url       : {url}")
        print(f"    licence   : {src.licence}")
        print(f"    millésime : {src.vintage}   nature : {src.nature}")
        print(f"    récupéré  : {when}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from etl.runner import format_report, run
    from etl.sources.base import SourceError

    if not args.all and not args.sources:
        print("Indiquer des sources ou --all (voir `python -m etl list`).", file=sys.stderr)
        return 2
    mirror = Path(args.mirror) if args.mirror else None
    if mirror is not None and not mirror.is_dir():
        print(f"Dossier miroir introuvable : {mirror}", file=sys.stderr)
        return 2
    options = {k: v for k, v in vars(args).items()
               if k not in {"func", "sources", "all", "mirror", "out", "option"} and v is not None}
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"Option mal formée : {item!r} (attendu : CLE=VALEUR)", file=sys.stderr)
            return 2
        options[key.strip()] = value.strip()
    try:
        report = run(None if args.all else args.sources, out_dir=Path(args.out), mirror=mirror, options=options,
                     progress=not args.quiet)
    except SourceError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description="ETL de l'observatoire de l'économie collaborative")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="les sources : URL, licence, millésime, dernière récupération")
    p_list.add_argument("--out", default=str(config.data_dir()), help="dossier des marts (défaut : data/)")
    p_list.set_defaults(func=cmd_list)

    p_run = sub.add_parser("run", help="récupérer des sources et reconstruire les marts qui les lisent")
    p_run.add_argument("sources", nargs="*", help="noms des sources (voir `list`)")
    p_run.add_argument("--all", action="store_true", help="toutes les sources")
    p_run.add_argument("--mirror", nargs="?", const=str(config.mirror_dir()),
                       help="lire un miroir local au lieu des URL en ligne (sans chemin : ../shared/opendata)")
    p_run.add_argument("--out", default=str(config.data_dir()), help="dossier des marts (défaut : data/)")
    p_run.add_argument("--quiet", action="store_true", help="sans barres de progression")
    p_run.add_argument("--vtc-source", choices=["bpe", "sirene"],
                       help="comptage des taxis-VTC : BPE de l'Insee (défaut) ou établissements Sirene NAF 49.32Z")
    p_run.add_argument("--sirene-departements", help="avec --vtc-source sirene : départements à lire (ex. 33,75)")
    p_run.add_argument("-o", "--option", action="append", metavar="CLE=VALEUR",
                       help="option d'une source, répétable (ex. : -o insideairbnb.fichier=detaille)")
    p_run.set_defaults(func=cmd_run)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
