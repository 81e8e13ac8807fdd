"""Which department answers for a case: the most specific routing rule wins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Department, RoutingRule


def suggest(session: Session, case: Case) -> Department | None:
    """Return the department the most specific rule names for the case's category and zone."""
    zone_ids, zone = [], case.zone
    while zone is not None:
        zone_ids.append(zone.id)
        zone = zone.parent
    best, best_score = None, -1
    for rule in session.scalars(select(RoutingRule)):
        if rule.category_id not in (None, case.category_id):
            continue
        if rule.group_id not in (None, case.category.group_id):
            continue
        if rule.zone_id is not None and rule.zone_id not in zone_ids:
            continue
        # Category beats group beats anything; a deeper zone beats a wider one.
        score = (100 if rule.category_id else 50 if rule.group_id else 0) + (
            10 - zone_ids.index(rule.zone_id) if rule.zone_id else 0
        )
        if score > best_score:
            best, best_score = rule.department, score
    return best
