"""What every benchmark shares: the registry, the databases by size, timing and the results.

A benchmark module registers its rows with `@register(...)`; `python -m bench` imports every
module of the package, so a new module joins `make bench` by existing. A registered
function takes a `Run` (database, size, rounds) and returns result dicts; the harness
stamps them, appends them to `results/<date>.json` and rewrites the tables of the README.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tests.databases import ensure_database

ROOT = Path(__file__).parent
RESULTS = ROOT / "results"
README = ROOT / "README.md"
INSTANCE = ROOT.parent / "instance"
WARM_UP = 3
SIZES = {10_000: "10k", 100_000: "100k", 1_000_000: "1m"}
DATABASES = ("sqlite", "postgresql")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/bench_{size}")


@dataclass
class Run:
    """One benchmark's run: which database, how many cases, how many rounds."""

    database: str  # "sqlite" or "postgresql"
    cases: int
    rounds: int
    url: str = ""
    open_only: bool = False  # every case open, none due (the SLA sweep's databases)

    def __post_init__(self) -> None:
        if not self.url:
            self.url = database_url(self.database, self.cases)
        elif not self.url.startswith("sqlite"):
            self.database = "postgresql"

    def app(self):
        """Return the portal bound to this run's database, migrated, with the cases in it."""
        from flask_migrate import upgrade
        from sqlalchemy import text

        from bench.data import ensure_cases
        from portal import create_app
        from portal.extensions import db

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": self.url,
                "RATELIMIT_ENABLED": False,
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
            }
        )
        ensure_database(self.url)
        with app.app_context():
            upgrade()
            added = ensure_cases(db.session, self.cases, open_only=self.open_only)
            if added:  # fresh statistics after the bulk insert, as autovacuum would have them
                with db.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            print(f"{self.database}, {self.cases:,} cases ({added:,} added)", flush=True)
        return app


def database_url(database: str, cases: int, prefix: str = "bench") -> str:
    """Return the URL of the benchmark database of a kind and size (one database per size)."""
    size = SIZES.get(cases, str(cases))
    if database == "sqlite":
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / f'{prefix}-{size}.db'}"
    if database == "postgresql":
        return PG_URL.format(size=size if prefix == "bench" else f"{prefix}_{size}")
    raise ValueError(f"unknown database {database}")


@dataclass
class Bench:
    """A registered benchmark: its rows, what they are held to, and how to run them."""

    name: str
    description: str
    target: str
    function: Callable[[Run], list[dict]]
    rounds: int = 20
    sizes: tuple[int, ...] = field(default_factory=tuple)  # fixed sizes, whatever asked


BENCHES: dict[str, Bench] = {}


def register(
    name: str, description: str, target: str, rounds: int = 20, sizes: tuple[int, ...] = ()
) -> Callable:
    """Add a benchmark to `python -m bench`; `sizes` fixes its own sizes (e.g. the SLA sweep)."""

    def add(function: Callable[[Run], list[dict]]) -> Callable[[Run], list[dict]]:
        BENCHES[name] = Bench(name, description, target, function, rounds, sizes)
        return function

    return add


def percentile(values: list[float], share: float) -> float:
    """Return the value below which the given share of the sorted values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(call: Callable[[], object]) -> float:
    """Return how long a call took, in seconds."""
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def side_by_side(
    portal: Callable[[], object], reference: Callable[[], object], rounds: int
) -> tuple[list[float], list[float]]:
    """Time the portal and its reference alternately, after a warm-up; return both series."""
    for _ in range(WARM_UP):  # fill caches and pools before anything is timed
        portal()
        reference()
    mine, theirs = [], []
    for n in range(rounds):  # alternate which goes first, so neither always meets a warm cache
        pair = ((portal, mine), (reference, theirs))
        for call, series in pair if n % 2 == 0 else reversed(pair):
            series.append(timed(call))
    return mine, theirs


def compared(name: str, run: Run, portal: list[float], raw: list[float], limit: float) -> dict:
    """Return the result of a row held to `limit` times its reference at p50 and p95."""
    result = {
        "benchmark": name,
        "database": run.database,
        "cases": run.cases,
        "portal_p50_ms": statistics.median(portal) * 1000,
        "portal_p95_ms": percentile(portal, 0.95) * 1000,
        "raw_p50_ms": statistics.median(raw) * 1000,
        "raw_p95_ms": percentile(raw, 0.95) * 1000,
    }
    result["ratio_p50"] = result["portal_p50_ms"] / result["raw_p50_ms"]
    result["ratio_p95"] = result["portal_p95_ms"] / result["raw_p95_ms"]
    result["met"] = result["ratio_p50"] <= limit and result["ratio_p95"] <= limit
    return result


def save(results: list[dict]) -> None:
    """Append results to today's file and rewrite the README's tables from every file."""
    if not results:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{date.today().isoformat()}.json"
    previous = json.loads(out.read_text()) if out.exists() else []
    stamped = [{"date": date.today().isoformat(), **r} for r in results]
    out.write_text(json.dumps([*previous, *stamped], indent=2, ensure_ascii=False) + "\n")
    from bench import report

    report.rewrite(README)
