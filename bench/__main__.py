"""Run benchmarks: `python -m bench` runs every one on SQLite at 10,000 cases.

python -m bench queue kpi --cases 10000 1000000 --database sqlite postgresql
python -m bench fill --cases 1000000 --database postgresql   # only generate the data
python -m bench list
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench
from bench.harness import BENCHES, DATABASES, Run, save

NOT_BENCHES = {"__main__", "data", "harness", "report"}


def discover() -> None:
    """Import every module of the package, so that each registers its benchmarks."""
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name not in NOT_BENCHES:
            importlib.import_module(f"bench.{module.name}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen benchmarks at each size and database."""
    discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks (default: all), 'fill' or 'list'")
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000])
    parser.add_argument("--database", nargs="+", choices=DATABASES, default=["sqlite"])
    parser.add_argument("--database-url", default="", help="one database instead of --database")
    parser.add_argument("--rounds", type=int, default=0, help="timed rounds (default: each's)")
    args = parser.parse_args(argv)
    if args.names == ["list"]:
        for name, entry in BENCHES.items():
            print(f"{name:16} {entry.description} (target: {entry.target})")
        return
    if args.names == ["fill"]:
        for database in args.database:
            for cases in args.cases:
                Run(database, cases, 0, args.database_url).app()
        return
    unknown = set(args.names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    failed = []
    for name in args.names or list(BENCHES):
        entry = BENCHES[name]
        for database in args.database:
            for cases in entry.sizes or args.cases:
                run = Run(database, cases, args.rounds or entry.rounds, args.database_url)
                print(f"== {name}: {database}, {cases:,} cases", flush=True)
                try:
                    results = entry.function(run)
                except Exception as error:  # one broken row must not lose the others' figures
                    print(f"!! {name} failed: {error!r}", file=sys.stderr, flush=True)
                    failed.append(name)
                    continue
                for result in results:
                    print(_line(result), flush=True)
                save(results)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def _line(result: dict) -> str:
    keys = ("portal_p50_ms", "portal_p95_ms", "raw_p50_ms", "raw_p95_ms", "ratio_p50")
    figures = ", ".join(f"{k} {result[k]:.1f}" for k in keys if k in result)
    return f"   {result['benchmark']}: {figures} met={result.get('met')} {result.get('note', '')}"


main()
