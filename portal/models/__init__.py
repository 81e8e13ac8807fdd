"""The domain models."""

from portal.models.audit import AuditEntry, OutboxMessage
from portal.models.base import Base, utcnow
from portal.models.calendar import CalendarDay
from portal.models.case import (
    OPEN_STATES,
    SOURCES,
    STATES,
    Case,
    CaseCounter,
    CaseEvent,
    CaseFollower,
    Photo,
)
from portal.models.catalog import PRIORITIES, Category, CategoryGroup, SlaPolicy, SlaTarget
from portal.models.org import ROLES, ApiKey, Department, RoutingRule, User, Zone

__all__ = [
    "OPEN_STATES",
    "PRIORITIES",
    "ROLES",
    "SOURCES",
    "STATES",
    "ApiKey",
    "AuditEntry",
    "Base",
    "CalendarDay",
    "Case",
    "CaseCounter",
    "CaseEvent",
    "CaseFollower",
    "Category",
    "CategoryGroup",
    "Department",
    "OutboxMessage",
    "Photo",
    "RoutingRule",
    "SlaPolicy",
    "SlaTarget",
    "User",
    "Zone",
    "utcnow",
]
