"""Which department answers for a case: the most specific routing rule wins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Category, Department, RoutingRule, Zone


def suggest(session: Session, case: Case) -> Department | None:
    """Return the department the most specific rule names for the case's category and zone."""
    return for_place(session, case.category, case.zone)


def for_place(session: Session, category: Category, zone: Zone | None) -> Department | None:
    """Return the department the most specific rule names for a category in a zone."""
    zone_ids = []
    while zone is not None:
        zone_ids.append(zone.id)
        zone = zone.parent
    best = best_rule(session.scalars(select(RoutingRule)), category.id, category.group_id, zone_ids)
    return None if best is None else best.department


def best_rule(rules, category_id: int, group_id: int | None, zone_ids: list[int]):
    """Return the most specific rule for a category (of a group) in a zone and its parents
    (`zone_ids`, the zone first), or None; the first one read wins a tie."""
    best, best_score = None, -1
    for rule in rules:
        if rule.category_id not in (None, category_id):
            continue
        if rule.group_id not in (None, group_id):
            continue
        if rule.zone_id is not None and rule.zone_id not in zone_ids:
            continue
        # Category beats group beats anything; a deeper zone beats a wider one.
        score = (100 if rule.category_id else 50 if rule.group_id else 0) + (
            10 - zone_ids.index(rule.zone_id) if rule.zone_id else 0
        )
        if score > best_score:
            best, best_score = rule, score
    return best
