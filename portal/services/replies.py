"""Ready-made public replies: per category, per category group, and for every case."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.models import Category, CategoryGroup, ReplyTemplate, User
from portal.services import audit


def templates_for(session: Session, category: Category) -> list[ReplyTemplate]:
    """Return the templates for a category: its own first, then its group's, then general."""
    found = session.scalars(
        select(ReplyTemplate).where(
            or_(
                ReplyTemplate.category_id == category.id,
                ReplyTemplate.group_id == category.group_id,
                (ReplyTemplate.category_id.is_(None) & ReplyTemplate.group_id.is_(None)),
            )
        )
    ).all()
    return sorted(found, key=lambda t: (t.category_id is None, t.group_id is None, t.id))


def add(
    session: Session,
    user: User,
    title: str,
    body: str,
    category: Category | None = None,
    group: CategoryGroup | None = None,
) -> ReplyTemplate:
    """Add a template for one category, one group, or (neither given) every case."""
    if category is not None and group is not None:
        raise ValueError("a template belongs to a category or a group, not both")
    template = ReplyTemplate(title=title, body=body, category=category, group=group)
    session.add(template)
    session.flush()
    audit.record(
        session,
        user,
        "reply_template.create",
        "reply_template",
        template.id,
        after=_snapshot(template),
    )
    return template


def remove(session: Session, user: User, template: ReplyTemplate) -> None:
    """Delete a template (replies already sent keep their text)."""
    audit.record(
        session,
        user,
        "reply_template.delete",
        "reply_template",
        template.id,
        before=_snapshot(template),
    )
    session.delete(template)
    session.flush()


def _snapshot(template: ReplyTemplate) -> dict:
    return {
        "title": template.title,
        "body": template.body,
        "category": template.category.code if template.category else None,
        "group": template.group.code if template.group else None,
    }
