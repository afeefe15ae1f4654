"""The ETL command line: `python -m etl list | run | simulate-rpc`.

    python -m etl list
    python -m etl run --all --mirror ../shared/opendata
    python -m etl run communes insee_logement --out /tmp/data
    python -m etl run rpc --months 2024-01..2024-12
    python -m etl simulate-rpc --months 2024-01..2024-12 --out /tmp/rpc
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
        for r in src.resources_:
            print(f"    url       : {r.url}")
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
    options = {k: v for k, v in vars(args).items() if k not in {"func", "sources", "all", "mirror", "out"} and v is not None}
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
    p_run.add_argument("--months", help="mois des fichiers du registre de covoiturage (rpc), par exemple "
                       "2024-01..2024-12 (défaut : les 12 derniers publiés ; en mode miroir, les 12 mois de 2024 simulés)")
    p_run.add_argument("--seuil-flux", type=int, help="passagers par mois en dessous desquels une paire origine-"
                       "destination de covoiturage n'est pas gardée (défaut : 10, comme l'observatoire)")
    p_run.set_defaults(func=cmd_run)

    p_sim = sub.add_parser("simulate-rpc", help="écrire des fichiers mensuels simulés au format du registre de covoiturage")
    from etl.simulate_rpc import add_arguments, run_cli

    add_arguments(p_sim)
    p_sim.set_defaults(func=run_cli)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
