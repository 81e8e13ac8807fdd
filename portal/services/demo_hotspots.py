"""Demo data for the grid hotspots: a drainage surge in one grid cell this week.

The cell gets a quiet history (about one drainage case every other week), then eight
waterlogging and blocked-drain reports in the current week, as after a heavy rain; the
hotspots of this week are computed so the surge shows on the one map and in the list.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Category, CategoryGroup, Zone
from portal.services import hotspots

SURGE_GROUP = "02"  # 排水 (drainage)
SURGE_CASES = 8


def _visit(case: Case) -> None:
    # Residents of the flooded cell came to the street office: entered by staff, in person.
    case.source = "visit"


def load_surge(session: Session, now: datetime, tz: ZoneInfo, seed: int = 2026) -> dict[str, int]:
    """Add a quiet history and this week's surge in one grid cell; compute this week."""
    from portal.services.demo import _case  # the demo's case maker, drawing inside a zone

    rng = random.Random(seed + 15)  # noqa: S311 - demo data, reproducible
    cells = session.scalars(select(Zone).where(Zone.level == "grid").order_by(Zone.code)).all()
    group = session.scalar(select(CategoryGroup).where(CategoryGroup.code == SURGE_GROUP))
    if not cells or group is None:
        return {}
    cell = cells[len(cells) // 2]
    categories = session.scalars(
        select(Category).where(Category.group_id == group.id).order_by(Category.code)
    ).all()
    week = hotspots.current_week(now, tz)
    start = hotspots.week_start_utc(week, tz)
    made = 0
    for past in range(1, 9, 2):  # one case every other week before
        created = start - timedelta(weeks=past) + timedelta(hours=rng.randint(8, 150))
        _visit(_case(session, rng, rng.choice(categories), cell, created))
        made += 1
    span = max(60, int((now - start).total_seconds() // 60))
    for _ in range(SURGE_CASES):
        created = start + timedelta(minutes=rng.randint(0, span - 1))
        _visit(_case(session, rng, rng.choice(categories), cell, min(created, now)))
        made += 1
    session.flush()
    found = hotspots.compute(session, week, hotspots.Method(), tz, now)
    return {"hotspot cases": made, "hotspots": len(found)}
