"""Grid hotspots: a week's computation against the same aggregation in raw SQL.

Its own databases (`instance/hotspots-*.db`, `hotspots_*` on PostgreSQL): the bench cases
(three years, every category) spread over 2,000 grid cells, the demo's 16 and 1,984 more
tiling the district. The portal's side is `hotspots.compute` for the last full week (the
one GROUP BY cell, group, week over nine weeks, the test of every pair, the cases behind
each hotspot and keeping the rows); the reference is that GROUP BY alone in raw SQL, with
its rows fetched. Held to 1.5× at p50 and p95.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from bench.harness import Run, compared, database_url, ensure_database, register, side_by_side
from portal.extensions import db
from portal.models import Zone, utcnow
from portal.services import hotspots

LIMIT = 1.5
CELLS = 2000
TZ = ZoneInfo("Asia/Shanghai")


def _grid(session) -> None:
    """Tile the district with extra grid cells until there are CELLS of them."""
    from portal.services import demo

    have = session.scalar(select(func.count()).select_from(Zone).where(Zone.level == "grid"))
    if have >= CELLS:
        return
    district = session.scalars(select(Zone).where(Zone.level == "district")).first()
    rows, columns = 40, 50
    height = (district.max_lat - district.min_lat) / rows
    width = (district.max_lng - district.min_lng) / columns
    for n in range(CELLS - have):
        south = district.min_lat + (n // columns) * height
        west = district.min_lng + (n % columns) * width
        corners = (
            (west, south),
            (west + width, south),
            (west + width, south + height),
            (west, south + height),
        )
        session.add(
            demo._zone(
                f"BENCH-{n:04d}",
                f"测试网格{n}",
                f"bench cell {n}",
                "grid",
                demo._polygon(corners),
                district,
            )
        )
    session.commit()


def _app(run: Run):
    from flask_migrate import upgrade

    from bench.data import ensure_cases
    from portal import create_app
    from portal.services import demo

    url = database_url(run.database, run.cases, "hotspots")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"}
    )
    ensure_database(url)
    with app.app_context():
        upgrade()
        demo.load_reference(db.session)
        db.session.commit()
        _grid(db.session)
        added = ensure_cases(db.session, run.cases)
        if added:
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        print(f"{run.database}, {run.cases:,} cases in {CELLS:,} cells ({added:,} added)")
    return app


RAW = """
SELECT c.zone_id, cat.group_id, {bucket} AS bucket, count(*)
FROM cases c
JOIN category cat ON cat.id = c.category_id
JOIN zone z ON z.id = c.zone_id
WHERE z.level = 'grid' AND c.created_at >= :b0 AND c.created_at < :b{last}
  AND c.state NOT IN ('rejected', 'duplicate')
GROUP BY c.zone_id, cat.group_id, bucket
"""


def _raw_query(weeks: int) -> str:
    bucket = (
        "CASE "
        + " ".join(
            f"WHEN c.created_at >= :b{n} AND c.created_at < :b{n + 1} THEN {n}"
            for n in range(weeks + 1)
        )
        + " ELSE -1 END"
    )
    return RAW.format(bucket=bucket, last=weeks + 1)


@register(
    "hotspots",
    f"a week's grid hotspots over {CELLS:,} cells vs. the GROUP BY in raw SQL",
    "≤ 1.5× raw SQL",
    10,
)
def run(run: Run) -> list[dict]:
    """Time a week's computation and the raw aggregation alternately."""
    app = _app(run)
    method = hotspots.Method()
    now = utcnow()
    week = hotspots.current_week(now, TZ) - timedelta(weeks=1)
    bounds = [
        hotspots.week_start_utc(week + timedelta(weeks=n), TZ)
        for n in range(-method.baseline_weeks, 2)
    ]
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        params = {f"b{n}": (b.replace(tzinfo=None) if sqlite else b) for n, b in enumerate(bounds)}
        raw = text(_raw_query(method.baseline_weeks))
        found: list[int] = []

        def portal() -> None:
            found[:] = [len(hotspots.compute(db.session, week, method, TZ, now))]
            db.session.rollback()

        def reference() -> None:
            db.session.execute(raw, params).all()
            db.session.rollback()

        counted = sum(r[3] for r in db.session.execute(raw, params))
        mine = sum(sum(v) for v in hotspots.weekly_counts(db.session, week, 8, TZ).values())
        assert counted == mine, (counted, mine)  # the same aggregation, the same cases
        portal_times, raw_times = side_by_side(portal, reference, run.rounds)
    result = compared("hotspots", run, portal_times, raw_times, LIMIT)
    result["note"] = f"{CELLS:,} cells, {counted:,} cases in 9 weeks, {found[0]} hotspots"
    return [result]
