"""The domain models."""

from portal.models.audit import AuditEntry, OutboxMessage
from portal.models.base import Base, utcnow
from portal.models.blocklist import BLOCK_KINDS, BlockedSender
from portal.models.calendar import CalendarDay
from portal.models.case import (
    CASE_FLAGS,
    OPEN_STATES,
    RATINGS,
    SOURCES,
    STATES,
    Case,
    CaseCounter,
    CaseEvent,
    CaseFollower,
    CaseRating,
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
from portal.models.kpi import KpiVersion
from portal.models.notices import NOTICE_KINDS, Notice, notice_case
from portal.models.org import ROLES, ApiKey, Department, RoutingRule, User, Zone
from portal.models.participation import (
    COMMENT_STATUSES,
    CONSULTED_PHASES,
    SUGGESTION_STATUSES,
    Consultation,
    ConsultationComment,
    Suggestion,
)
from portal.models.supervision import (
    CHECKLIST,
    Assignment,
    Inspection,
    InspectionPhoto,
    SiteCheck,
    SiteCheckPhoto,
    SpotCheckRound,
    SupervisorApplication,
)
from portal.models.two_factor import AccountTotp, RecoveryCode
from portal.models.works import PHASES, Contractor, ListEntry, Project

__all__ = [
    "BLOCK_KINDS",
    "CASE_FLAGS",
    "CHECKLIST",
    "COMMENT_STATUSES",
    "CONSULTED_PHASES",
    "DATATYPES",
    "LIST_DATATYPES",
    "NOTICE_KINDS",
    "OPEN_STATES",
    "PHASES",
    "PRIORITIES",
    "RATINGS",
    "ROLES",
    "SOURCES",
    "STATES",
    "SUGGESTION_STATUSES",
    "AccountTotp",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "Base",
    "BlockedSender",
    "CalendarDay",
    "Case",
    "CaseCounter",
    "CaseEvent",
    "CaseFollower",
    "CaseRating",
    "Category",
    "CategoryAttribute",
    "CategoryGroup",
    "Consultation",
    "ConsultationComment",
    "Contractor",
    "Department",
    "Inspection",
    "InspectionPhoto",
    "KpiVersion",
    "ListEntry",
    "Notice",
    "OutboxMessage",
    "Photo",
    "Project",
    "RecoveryCode",
    "ReplyTemplate",
    "RoutingRule",
    "SiteCheck",
    "SiteCheckPhoto",
    "SlaPolicy",
    "SlaTarget",
    "SpotCheckRound",
    "Suggestion",
    "SupervisorApplication",
    "User",
    "Zone",
    "notice_case",
    "utcnow",
]
