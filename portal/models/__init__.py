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
from portal.models.catalog import (
    DATATYPES,
    LIST_DATATYPES,
    PRIORITIES,
    Category,
    CategoryAttribute,
    CategoryGroup,
    ReplyTemplate,
    SlaPolicy,
    SlaTarget,
)
from portal.models.org import ROLES, ApiKey, Department, RoutingRule, User, Zone
from portal.models.supervision import (
    CHECKLIST,
    Assignment,
    Inspection,
    InspectionPhoto,
    SpotCheckRound,
    SupervisorApplication,
)
from portal.models.works import PHASES, Contractor, ListEntry, Project

__all__ = [
    "CHECKLIST",
    "DATATYPES",
    "LIST_DATATYPES",
    "OPEN_STATES",
    "PHASES",
    "PRIORITIES",
    "ROLES",
    "SOURCES",
    "STATES",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "Base",
    "CalendarDay",
    "Case",
    "CaseCounter",
    "CaseEvent",
    "CaseFollower",
    "Category",
    "CategoryAttribute",
    "CategoryGroup",
    "Contractor",
    "Department",
    "Inspection",
    "InspectionPhoto",
    "ListEntry",
    "OutboxMessage",
    "Photo",
    "Project",
    "ReplyTemplate",
    "RoutingRule",
    "SlaPolicy",
    "SlaTarget",
    "SpotCheckRound",
    "SupervisorApplication",
    "User",
    "Zone",
    "utcnow",
]
