"""Reply templates: a category's own first, then its group's, then those for every case."""

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Category, ReplyTemplate
from portal.services import replies
from tests.factories import make_user


def test_templates_for_a_category_come_most_specific_first(db, reference):
    pothole = db.session.scalar(select(Category).where(Category.code == "0101"))
    lamp = db.session.scalar(select(Category).where(Category.code.like("03%")))
    titles = [t.title for t in replies.templates_for(db.session, pothole)]
    # The demo reference data: one for potholes, two for roads, one for every case.
    assert titles == ["坑槽已修补", "已派员查看路面", "坑槽修补已排期", "需要补充信息"]
    lamp_titles = [t.title for t in replies.templates_for(db.session, lamp)]
    assert "坑槽已修补" not in lamp_titles and lamp_titles[-1] == "需要补充信息"


def test_adding_and_removing_a_template_is_audited(db, reference):
    admin = make_user(db.session, "admin")
    pothole = db.session.scalar(select(Category).where(Category.code == "0101"))
    template = replies.add(db.session, admin, "夜间施工", "将于夜间施工修补。", category=pothole)
    assert replies.templates_for(db.session, pothole)[:2][-1] is template
    replies.remove(db.session, admin, template)
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["reply_template.create", "reply_template.delete"]
    assert db.session.get(ReplyTemplate, template.id) is None


def test_a_template_has_one_scope(db, reference):
    admin = make_user(db.session, "admin")
    pothole = db.session.scalar(select(Category).where(Category.code == "0101"))
    with pytest.raises(ValueError):
        replies.add(db.session, admin, "t", "b", category=pothole, group=pothole.group)
