"""The KPI dashboard for a month, beside the same counts taken by raw aggregate SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.harness import Run, compared, register, side_by_side
from portal.extensions import db
from portal.models import utcnow
from portal.services import kpi

TZ = ZoneInfo("Asia/Shanghai")
CASE_RATES = (  # in the order of the columns of CASE_COUNTS
    "on_time_response_rate",
    "resolution_rate",
    "on_time_resolution_rate",
    "satisfaction_rate",
    "rework_rate",
    "major_hazard_rectification_rate",
    "findings_answered_48h_rate",
)
# The rates over the cases, as the KPI page defines them, written out by hand.
CASE_COUNTS = """
SELECT {bucket} AS g,
  count(CASE WHEN respond_due_at IS NOT NULL AND (responded_at IS NOT NULL OR respond_due_at < :now)
             AND responded_at <= respond_due_at THEN 1 END),
  count(CASE WHEN respond_due_at IS NOT NULL AND (responded_at IS NOT NULL OR respond_due_at < :now)
             THEN 1 END),
  count(CASE WHEN state <> 'rejected' AND resolved_at IS NOT NULL THEN 1 END),
  count(CASE WHEN state <> 'rejected' THEN 1 END),
  count(CASE WHEN state <> 'rejected' AND resolve_due_at IS NOT NULL AND resolved_at IS NOT NULL
             AND resolved_at <= resolve_due_at THEN 1 END),
  count(CASE WHEN state <> 'rejected' AND resolve_due_at IS NOT NULL
             AND (resolved_at IS NOT NULL OR resolve_due_at < :now) THEN 1 END),
  count(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 END),
  count(rating),
  count(CASE WHEN state <> 'rejected' AND EXISTS (SELECT 1 FROM case_event e
             WHERE e.case_id = cases.id AND e.kind IN ('reopened', 'rework')) THEN 1 END),
  count(CASE WHEN state <> 'rejected' AND (resolved_at IS NOT NULL OR EXISTS (SELECT 1
             FROM case_event e WHERE e.case_id = cases.id AND e.kind IN ('reopened', 'rework')))
             THEN 1 END),
  count(CASE WHEN major_hazard AND state = 'closed' THEN 1 END),
  count(CASE WHEN major_hazard AND state <> 'rejected' THEN 1 END),
  count(CASE WHEN source = 'inspection' AND respond_due_at IS NOT NULL
             AND responded_at <= respond_due_at THEN 1 END),
  count(CASE WHEN source = 'inspection' AND respond_due_at IS NOT NULL
             AND (responded_at IS NOT NULL OR respond_due_at < :now) THEN 1 END)
FROM cases
WHERE created_at >= :b0 AND created_at < :b{months} AND hidden = false AND state <> 'duplicate'
GROUP BY g
"""
INSPECTIONS = """
SELECT {bucket} AS g,
  count(CASE WHEN (NOT off_site OR confirmed_at IS NOT NULL) AND verdict = 'pass' THEN 1 END),
  count(CASE WHEN NOT off_site OR confirmed_at IS NOT NULL THEN 1 END)
FROM inspection
WHERE status = 'submitted' AND submitted_at >= :b0 AND submitted_at < :b{months}
GROUP BY g
"""
ACCEPTANCES = """
SELECT {bucket} AS g, count(CASE WHEN acceptance_result = 'passed' THEN 1 END), count(*)
FROM project
WHERE acceptance_result IN ('passed', 'failed') AND acceptance_date >= :d0
  AND acceptance_date < :d{months}
GROUP BY g
"""


def _bucket(column: str, prefix: str, months: int) -> str:
    whens = " ".join(
        f"WHEN {column} >= :{prefix}{n} AND {column} < :{prefix}{n + 1} THEN {n}"
        for n in range(months)
    )
    return f"CASE {whens} ELSE -1 END"


def raw_counts(connection, month: date, months: int, now: datetime, sqlite: bool) -> list:
    """Take the month's (or the trend's) counts with three hand-written aggregate queries."""
    firsts = [kpi.add_months(month, n) for n in range(1 - months, 2)]
    bounds = [kpi.month_start(m, TZ) for m in firsts]
    if sqlite:  # the portal stores naive UTC text in SQLite
        bounds = [b.replace(tzinfo=None) for b in bounds]
        now = now.replace(tzinfo=None)
    params = {f"b{n}": b for n, b in enumerate(bounds)}
    params.update({f"d{n}": d for n, d in enumerate(firsts)})
    params["now"] = now
    rows = []
    for sql, column, prefix in (
        (CASE_COUNTS, "created_at", "b"),
        (INSPECTIONS, "submitted_at", "b"),
        (ACCEPTANCES, "acceptance_date", "d"),
    ):
        query = sql.format(bucket=_bucket(column, prefix, months), months=months)
        rows.append(connection.execute(text(query), params).all())
    return rows


@register("kpi", "the KPI page (12-month trend) and API for a month vs raw SQL", "≤ 1.5× raw SQL")
def run(run: Run) -> list[dict]:
    """Measure the KPI page and API against raw SQL alternately; return medians and ratios."""
    app = run.app()
    results = []
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        client = app.test_client()
        now = utcnow()
        month = kpi.current_month(now - timedelta(days=40), TZ)  # a full month, not this one
        page, api = f"/kpi?month={month:%Y-%m}", f"/api/v1/kpi?month={month:%Y-%m}"
        body = client.get(api).get_json()
        with db.engine.connect() as connection:
            [[_g, *counts]], _inspections, _acceptances = raw_counts(
                connection, month, 1, datetime.now(UTC), sqlite
            )
        portal_counts = [
            body["counts"][key][part] for key in CASE_RATES for part in ("numerator", "denominator")
        ]
        assert portal_counts == counts, (portal_counts, counts)  # the same numbers, both ways
        print(f"month {month:%Y-%m}: {body['counts']['resolution_rate']['denominator']} cases")
        for name, path, months in (("kpi page", page, 12), ("kpi api", api, 1)):

            def reference(months=months) -> None:
                with db.engine.connect() as connection:
                    raw_counts(connection, month, months, utcnow(), sqlite)

            portal, raw = side_by_side(lambda path=path: client.get(path), reference, run.rounds)
            results.append({**compared(name, run, portal, raw, 1.5), "month": f"{month:%Y-%m}"})
    return results
