"""Suggestions: adoption with points on the account or the tracking link, refusals, e-mail."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, OutboxMessage
from portal.services import suggestions
from portal.services.suggestions import SuggestionError
from tests.factories import make_project, make_user

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def app_config():
    return {"SUGGESTION_POINTS": 7}


@pytest.fixture
def staff(db):
    return make_user(db.session, role="dispatcher")


def test_a_residents_adopted_suggestion_earns_points_on_its_tracking_link(db, staff):
    project = make_project(db.session, phase="construction")
    suggestion, token = suggestions.send(
        db.session, "围挡加警示灯", "转角处太暗。", NOW, project=project, email="Li@Example.cn"
    )
    assert suggestions.find(db.session, token) is suggestion
    assert suggestion.email == "li@example.cn" and suggestion.user is None
    suggestions.adopt(db.session, staff, suggestion, "已要求施工单位加装。", NOW)
    assert (suggestion.status, suggestion.points) == ("adopted", 7)
    assert (suggestion.decided_by_id, suggestion.decided_at) == (staff.id, NOW)
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "suggestion.adopt" and entry.after["points"] == 7
    mail = db.session.scalar(select(OutboxMessage))
    assert mail.recipient == "li@example.cn" and mail.kind == "suggestion.adopted"
    assert mail.subject == "您的建议已被采纳" and "获得积分：7" in mail.body
    assert "已要求施工单位加装。" in mail.body and "7" in mail.body
    assert suggestions.adopted(db.session) == [suggestion]


def test_a_supervisors_adopted_suggestion_adds_points_to_the_account(db, staff):
    supervisor = make_user(db.session, role="supervisor", points=3)
    suggestion, _ = suggestions.send(db.session, "增设座椅", "方便老人休息。", NOW, user=supervisor)
    suggestions.adopt(db.session, staff, suggestion, "采纳。", NOW)
    assert supervisor.points == 10 and suggestion.points == 7
    assert db.session.scalar(select(OutboxMessage)) is None  # no e-mail was left


def test_declining_needs_a_reason_earns_nothing_and_is_told(db, staff):
    supervisor = make_user(db.session, role="supervisor")
    suggestion, _ = suggestions.send(
        db.session, "积分兑换", "兑换公交卡。", NOW, user=supervisor, email="w@example.cn"
    )
    with pytest.raises(SuggestionError, match="reason"):
        suggestions.decline(db.session, staff, suggestion, "", NOW)
    with pytest.raises(SuggestionError, match="reason"):
        suggestions.adopt(db.session, staff, suggestion, " ", NOW)
    assert suggestion.status == "new" and supervisor.points == 0
    suggestions.decline(db.session, staff, suggestion, "暂不支持兑换。", NOW)
    assert (suggestion.status, suggestion.points, supervisor.points) == ("declined", 0, 0)
    assert db.session.scalar(select(OutboxMessage)).kind == "suggestion.declined"
    assert suggestions.adopted(db.session) == []


def test_a_decided_suggestion_cannot_be_decided_again(db, staff):
    supervisor = make_user(db.session, role="supervisor")
    suggestion, _ = suggestions.send(db.session, "标题", "内容内容。", NOW, user=supervisor)
    suggestions.adopt(db.session, staff, suggestion, "采纳。", NOW)
    for act in (suggestions.adopt, suggestions.decline):
        with pytest.raises(SuggestionError, match="decided"):
            act(db.session, staff, suggestion, "再来一次。", NOW)
    assert supervisor.points == 7  # points were not awarded twice


def test_the_mail_is_in_the_residents_language(db, staff):
    suggestion, _ = suggestions.send(
        db.session, "Bench", "More benches.", NOW, email="a@example.com", locale="en"
    )
    suggestions.adopt(db.session, staff, suggestion, "Adopted.", NOW)
    assert db.session.scalar(select(OutboxMessage)).subject == "Your suggestion was adopted"


def test_the_decision_mail_carries_the_residents_private_link(app, client, db, staff):
    app.config["PUBLIC_URL"] = "https://portal.example.cn"
    suggestion, token = suggestions.send(
        db.session, "增设座椅", "方便老人休息。", NOW, email="w@x.cn"
    )
    suggestions.decline(db.session, staff, suggestion, "暂无条件。", NOW)
    body = db.session.scalar(select(OutboxMessage)).body
    link = next(w for w in body.split() if "https://portal.example.cn/suggestions/track/" in w)
    signed = link.rsplit("/", 1)[1]
    assert signed != token and suggestions.find(db.session, signed) is suggestion
    db.session.commit()
    assert "暂无条件。" in client.get(f"/suggestions/track/{signed}").get_data(as_text=True)
    # A forged signature: its first character changed (it carries six bits of the MAC; the
    # last one's low bits are padding, so changing it alone may decode to the same MAC).
    head, _, mac = signed.rpartition(".")
    forged = f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"
    assert suggestions.find(db.session, forged) is None
    suggestion.tracking_token_hash = "0" * 64  # a new token revokes the mailed link
    assert suggestions.find(db.session, signed) is None
