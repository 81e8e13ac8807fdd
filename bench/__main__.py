"""Run a benchmark: python -m bench geojson --cases 100000, or python -m bench kpi."""

from __future__ import annotations

import argparse

from bench import geojson, kpi


def main() -> None:
    """Parse the command line and run the chosen benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="name", required=True)
    geo = sub.add_parser("geojson", help="map GeoJSON for a district-sized box vs raw SQL")
    geo.add_argument("--cases", type=int, default=100_000)
    geo.add_argument("--rounds", type=int, default=30)
    geo.add_argument("--database-url", default="")
    dashboard = sub.add_parser("kpi", help="the KPI page and API for a month vs raw SQL")
    dashboard.add_argument("--cases", type=int, default=100_000)
    dashboard.add_argument("--rounds", type=int, default=20)
    dashboard.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.name == "geojson":
        geojson.run(args.cases, args.rounds, args.database_url)
    elif args.name == "kpi":
        kpi.run(args.cases, args.rounds, args.database_url)


main()
