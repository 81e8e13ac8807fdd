"""The block list: normalized entries, expiry, networks, and every change audited."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, utcnow
from portal.services import blocklist
from tests.factories import make_user


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("email", "  Spam@Example.CN ", "spam@example.cn"),
        ("phone", "+86 138-0000-1111", "13800001111"),
        ("phone", "0086 13800001111", "13800001111"),
        ("phone", "(0571) 8765 4321", "057187654321"),
        ("ip", "203.0.113.7", "203.0.113.7/32"),
        ("ip", "203.0.113.9/24", "203.0.113.0/24"),
        ("ip", "2001:DB8::1", "2001:db8::1/128"),
    ],
)
def test_values_are_normalized(kind, given, stored):
    assert blocklist.normalize(kind, given) == stored


@pytest.mark.parametrize(
    ("kind", "given"), [("email", "not-an-address"), ("phone", "12"), ("ip", "300.1.1.1")]
)
def test_wrong_values_are_refused(kind, given):
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.normalize(kind, given)
    assert refused.value.code == "value"


def test_matching_by_email_phone_address_and_network(db, reference):
    staff = make_user(db.session, role="dispatcher")
    now = utcnow()
    blocklist.add(db.session, staff, "email", "Spam@example.cn", "广告", now)
    blocklist.add(db.session, staff, "phone", "13800001111", "骚扰电话", now)
    blocklist.add(db.session, staff, "ip", "203.0.113.0/24", "批量提交", now)
    db.session.commit()
    blocked = lambda **sender: blocklist.is_blocked(db.session, now, **sender)  # noqa: E731
    assert blocked(email="spam@EXAMPLE.cn")
    assert blocked(phone="+86 138 0000 1111")
    assert blocked(ip="203.0.113.77")
    assert not blocked(ip="203.0.114.1", email="ok@example.cn", phone="13900000000")
    assert not blocked(ip="2001:db8::1") and not blocked(ip="not an ip")
    assert not blocked()


def test_an_expired_entry_no_longer_blocks(db, reference):
    staff = make_user(db.session, role="dispatcher")
    now = utcnow()
    blocklist.add(db.session, staff, "email", "a@example.cn", "一周", now, now + timedelta(days=7))
    assert blocklist.is_blocked(db.session, now + timedelta(days=6), email="a@example.cn")
    assert not blocklist.is_blocked(db.session, now + timedelta(days=8), email="a@example.cn")


def test_adding_needs_a_reason_and_is_audited_once_per_sender(db, reference):
    staff = make_user(db.session, role="admin")
    now = utcnow()
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.add(db.session, staff, "email", "b@example.cn", "  ", now)
    assert refused.value.code == "reason"
    entry = blocklist.add(db.session, staff, "email", "b@example.cn", "垃圾信息", now)
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.add(db.session, staff, "email", "B@example.cn", "again", now)
    assert refused.value.code == "exists"
    blocklist.remove(db.session, staff, entry, now)
    db.session.commit()
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["blocklist.add", "blocklist.remove"]
    assert entries[0].after["value"] == "b@example.cn" and entries[0].actor_id == staff.id
    assert entries[1].before["reason"] == "垃圾信息"
    assert blocklist.listed(db.session) == []
