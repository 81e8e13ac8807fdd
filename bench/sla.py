"""The SLA sweep: its cost must follow the due clocks, not the open cases.

At `--cases N` it sweeps a database of N/10 open cases and one of N open cases, each with
the same number of clocks due (1,000, or N/100 when smaller), alternating between the
two, and holds the larger to under twice the smaller. Before each sweep it arms that many
other cases (their resolve check time in the past), as time passing would.
"""

from __future__ import annotations

import random
import statistics

from sqlalchemy import func, select, text, update

from bench.harness import Run, database_url, percentile, register, timed
from portal.extensions import db
from portal.models import Case, Department, User, utcnow
from portal.services import escalations

LIMIT = 2.0
PLAN = {
    "sqlite": "EXPLAIN QUERY PLAN SELECT * FROM cases WHERE resolve_check_at <= :now "
    "ORDER BY resolve_check_at LIMIT 500",
    "postgresql": "EXPLAIN SELECT * FROM cases WHERE resolve_check_at <= :now "
    "ORDER BY resolve_check_at LIMIT 500 FOR UPDATE SKIP LOCKED",
}


class Sweeper:
    """One database of open cases, ready to arm clocks and sweep them."""

    def __init__(self, database: str, cases: int, due: int) -> None:
        run = Run(database, cases, 0, database_url(database, cases, "sla"), open_only=True)
        self.app, self.due, self.cases = run.app(), due, cases
        self.rng = random.Random(cases)
        with self.app.app_context():
            self.max_id = db.session.scalar(select(func.max(Case.id)))
            _handlers()
            self.plan = _plan()

    def arm(self) -> None:
        """Bring the check time of `due` random open cases to the past."""
        ids = self.rng.sample(range(1, self.max_id + 1), self.due)
        with self.app.app_context():
            db.session.execute(
                update(Case)
                .where(Case.id.in_(ids))
                .values(resolve_check_at=utcnow(), resolve_warned_at=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()

    def sweep(self) -> int:
        """Sweep once and commit; return how many clocks it handled."""
        with self.app.app_context():
            result = escalations.sweep(db.session, utcnow())
            db.session.commit()
            return result.reminded + result.escalated


def _handlers() -> None:
    """Give each department a handler, so that each reminder is really addressed."""
    for department in db.session.scalars(select(Department)):
        email = f"bench-handler-{department.code}@example.cn".lower()
        if db.session.scalar(select(User).where(User.email == email)) is None:
            db.session.add(
                User(email=email, name="Bench handler", role="handler", department=department)
            )
    db.session.commit()


def _plan() -> str:
    """Return how the database finds the due clocks (it must use the check-time index)."""
    dialect = db.engine.dialect.name
    now = utcnow().replace(tzinfo=None) if dialect == "sqlite" else utcnow()
    rows = db.session.execute(text(PLAN[dialect]), {"now": now}).all()
    return "; ".join(str(row[-1]) for row in rows)


@register("sla sweep", "the SLA sweep: 10× the open cases, the same due", "10× open < 2× time", 8)
def run(run: Run) -> list[dict]:
    """Sweep the smaller and the larger database alternately; compare the medians."""
    due = min(1000, run.cases // 100)
    small = Sweeper(run.database, run.cases // 10, due)
    large = Sweeper(run.database, run.cases, due)
    print(f"   plan: {large.plan}", flush=True)
    times: dict[int, list[float]] = {small.cases: [], large.cases: []}
    for n in range(run.rounds + 1):  # the first round warms up
        for sweeper in (small, large) if n % 2 else (large, small):
            sweeper.arm()
            handled: list[int] = []
            took = timed(lambda sweeper=sweeper, handled=handled: handled.append(sweeper.sweep()))
            assert handled == [due], (handled, due)  # every armed clock, and nothing else
            if n:
                times[sweeper.cases].append(took)
    mine, theirs = times[large.cases], times[small.cases]
    result = {
        "benchmark": "sla sweep",
        "database": run.database,
        "cases": large.cases,  # open cases; the reference is the same sweep at a tenth of them
        "due": due,
        "portal_p50_ms": statistics.median(mine) * 1000,
        "portal_p95_ms": percentile(mine, 0.95) * 1000,
        "raw_p50_ms": statistics.median(theirs) * 1000,
        "raw_p95_ms": percentile(theirs, 0.95) * 1000,
        "plan": large.plan,
    }
    result["ratio_p50"] = result["portal_p50_ms"] / result["raw_p50_ms"]
    result["ratio_p95"] = result["portal_p95_ms"] / result["raw_p95_ms"]
    result["met"] = result["ratio_p50"] < LIMIT
    result["note"] = f"{due:,} due; reference: {small.cases:,} open"
    return [result]
