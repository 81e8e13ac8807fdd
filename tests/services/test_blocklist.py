"""The block list: normalized entries, expiry, networks no wider than the rules allow, what
each entry holds, and every change audited."""

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from portal.models import AuditEntry, Case, Suggestion, utcnow
from portal.services import blocklist, consultations, review, suggestions
from tests.factories import make_case, make_consultation, make_user


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("email", "  Spam@Example.CN ", "spam@example.cn"),
        ("phone", "+86 138-0000-1111", "13800001111"),
        ("phone", "0086 13800001111", "13800001111"),
        ("phone", "(0571) 8765 4321", "057187654321"),
        ("ip", "203.0.113.7", "203.0.113.7/32"),
        ("ip", "203.0.113.0/24", "203.0.113.0/24"),
        ("ip", "203.0.113.0/255.255.255.0", "203.0.113.0/24"),
        ("ip", "2001:DB8::1", "2001:db8::1/128"),
        ("ip", "2001:db8:0:0::/48", "2001:db8::/48"),
        # IPv4-mapped IPv6 is the IPv4 address or network it carries.
        ("ip", "::ffff:203.0.113.7", "203.0.113.7/32"),
        ("ip", "::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("ip", "::ffff:0:0/96", "0.0.0.0/0"),
    ],
)
def test_values_are_normalized(kind, given, stored):
    assert blocklist.normalize(kind, given) == stored


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        ("email", "not-an-address"),
        ("phone", "12"),
        ("ip", "300.1.1.1"),
        ("ip", "10.0.0.0/33"),
        ("ip", "010.0.0.1"),
        ("ip", "fe80::1%eth0"),
    ],
)
def test_wrong_values_are_refused(kind, given):
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.normalize(kind, given)
    assert refused.value.code == "value"


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("203.0.113.9/24", "203.0.113.0/24"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("2001:db8::1/48", "2001:db8::/48"),
        ("::ffff:10.0.0.1/104", "10.0.0.0/8"),
    ],
)
def test_an_address_written_with_a_prefix_is_refused_with_the_network_it_implies(given, meant):
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.normalize("ip", given)
    assert refused.value.code == "host_bits" and refused.value.suggestion == meant


WIDE = ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "127.0.0.0/8", "10.0.0.0/15", "2001:db8::/47"]


@pytest.mark.parametrize("value", WIDE)
def test_a_wide_network_needs_an_admin_who_confirms_it_with_a_reason(db, reference, value):
    admin = make_user(db.session, role="admin")
    now = utcnow()
    for confirmed, wide_reason, code in [
        (False, "", "wide"),
        (False, "演练", "wide"),
        (True, "  ", "wide_reason"),
    ]:
        with pytest.raises(blocklist.BlockError) as refused:
            blocklist.add(
                db.session,
                admin,
                "ip",
                value,
                "批量提交",
                now,
                confirmed=confirmed,
                wide_reason=wide_reason,
            )
        assert refused.value.code == code
    assert blocklist.listed(db.session) == []
    entry = blocklist.add(
        db.session,
        admin,
        "ip",
        value,
        "批量提交",
        now,
        confirmed=True,
        wide_reason="境外刷单，整个网段持续提交",
    )
    db.session.commit()
    audited = db.session.scalar(select(AuditEntry))
    assert audited.action == "blocklist.add" and audited.actor_id == admin.id
    assert audited.after["value"] == entry.value
    assert audited.after["wide_confirmed_because"] == "境外刷单，整个网段持续提交"


@pytest.mark.parametrize(
    "value", ["10.0.0.0/16", "203.0.113.0/24", "2001:db8::/48", "2001:db8::/64"]
)
def test_an_admin_lists_a_network_up_to_the_limit_without_confirming(db, reference, value):
    admin = make_user(db.session, role="admin")
    blocklist.add(db.session, admin, "ip", value, "批量提交", utcnow())
    db.session.commit()
    assert "wide_confirmed_because" not in db.session.scalar(select(AuditEntry)).after


@pytest.mark.parametrize(
    "value", ["10.0.0.0/24", "10.0.0.0/31", "::ffff:10.0.0.0/120", "2001:db8::/127", "0.0.0.0/0"]
)
def test_a_dispatcher_lists_single_addresses_only(db, reference, value):
    dispatcher = make_user(db.session, role="dispatcher")
    with pytest.raises(blocklist.BlockError) as refused:
        blocklist.add(
            db.session,
            dispatcher,
            "ip",
            value,
            "批量提交",
            utcnow(),
            confirmed=True,
            wide_reason="我确认",
        )
    assert refused.value.code == "single"
    assert blocklist.listed(db.session) == []


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("10.0.0.1", "10.0.0.1/32"),
        ("10.0.0.1/32", "10.0.0.1/32"),
        ("::ffff:10.0.0.1", "10.0.0.1/32"),
        ("2001:db8::1/128", "2001:db8::1/128"),
    ],
)
def test_a_dispatcher_lists_a_single_address(db, reference, value, stored):
    dispatcher = make_user(db.session, role="dispatcher")
    assert blocklist.add(db.session, dispatcher, "ip", value, "批量提交", utcnow()).value == stored


def test_matching_by_email_phone_address_and_network(db, reference):
    staff = make_user(db.session, role="admin")
    now = utcnow()
    blocklist.add(db.session, staff, "email", "Spam@example.cn", "广告", now)
    blocklist.add(db.session, staff, "phone", "13800001111", "骚扰电话", now)
    blocklist.add(db.session, staff, "ip", "203.0.113.0/24", "批量提交", now)
    db.session.commit()
    blocked = lambda **sender: blocklist.is_blocked(db.session, now, **sender)  # noqa: E731
    assert blocked(email="spam@EXAMPLE.cn")
    assert blocked(phone="+86 138 0000 1111")
    assert blocked(ip="203.0.113.77")
    assert blocked(ip="::ffff:203.0.113.77")  # a dual-stack socket's form of the same address
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


def test_each_entry_counts_what_it_holds_undecided_in_one_query(db, reference):
    staff = make_user(db.session, role="admin")
    now = utcnow()
    spam = blocklist.add(db.session, staff, "email", "spam@example.cn", "广告", now)
    network = blocklist.add(db.session, staff, "ip", "203.0.113.0/24", "批量提交", now)
    quiet = blocklist.add(db.session, staff, "phone", "13800001111", "骚扰", now)
    db.session.commit()
    by = lambda **sender: blocklist.match(db.session, now, **sender)  # noqa: E731
    assert by(email="SPAM@example.cn", ip="203.0.113.5") == spam  # e-mail first
    assert by(ip="203.0.113.5") == network and by(ip="198.51.100.1") is None
    make_case(db.session, email="spam@example.cn", held_by=by(email="spam@example.cn"))
    released, _ = make_case(db.session, held_by=by(ip="203.0.113.5"))
    rejected, _ = make_case(db.session, held_by=by(ip="203.0.113.6"))
    make_case(db.session, held_by=by(ip="203.0.113.7"))
    suggestions.send(db.session, "广告", "优惠", now, held_by=by(ip="203.0.113.8"))
    consultation = make_consultation(db.session, staff)
    consultations.add_comment(db.session, consultation, "优惠", utcnow(), held_by=spam)
    review.release_case(db.session, staff, released, now)
    review.reject_case(db.session, staff, rejected, "广告", now)
    make_case(db.session, held=True)  # held before entries were remembered: counted nowhere
    db.session.commit()
    assert db.session.scalar(select(Case).where(Case.id == released.id)).blocked_sender_id

    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", listen)
    try:
        counts = review.waiting_by_entry(db.session)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert counts == {spam.id: 2, network.id: 2}
    assert quiet.id not in counts and len(statements) == 1


def test_removing_an_entry_keeps_what_it_held_held(db, reference):
    staff = make_user(db.session, role="admin")
    now = utcnow()
    entry = blocklist.add(db.session, staff, "email", "spam@example.cn", "广告", now)
    held, _ = make_case(db.session, email="spam@example.cn", held_by=entry)
    suggestion, _ = suggestions.send(db.session, "广告", "优惠", now, held_by=entry)
    db.session.commit()
    blocklist.remove(db.session, staff, entry, now)
    db.session.commit()
    db.session.expire_all()
    case = db.session.get(Case, held.id)
    assert case.held and case.blocked_sender_id is None
    assert db.session.get(Suggestion, suggestion.id).held
    assert review.waiting_by_entry(db.session) == {}
    assert len(review.held(db.session)) == 2
