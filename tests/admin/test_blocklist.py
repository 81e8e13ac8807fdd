"""Staff manage the block list and decide what blocked senders sent, role-checked, with CSRF,
every change in the audit log."""

import re

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, BlockedSender, Case, OutboxMessage
from tests.factories import make_case


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("role", ["dispatcher", "admin"])
def test_staff_add_and_remove_a_sender_with_audit(client, db, login_as, role):
    login_as(role)
    token = csrf(client, "/admin/blocklist")
    added = client.post(
        "/admin/blocklist",
        data={
            "csrf_token": token,
            "kind": "phone",
            "value": "+86 138 0000 1111",
            "reason": "一天内提交五十次",
            "expires_on": "2030-01-01",
        },
    )
    assert added.status_code == 303
    page = client.get("/admin/blocklist").get_data(as_text=True)
    assert "13800001111" in page and "一天内提交五十次" in page and "已加入屏蔽名单" in page
    entry = db.session.scalar(select(BlockedSender))
    assert entry.expires_at.year in (2029, 2030)  # the end of that day, office time
    again = client.post(
        "/admin/blocklist",
        data={"csrf_token": token, "kind": "phone", "value": "13800001111", "reason": "x"},
    )
    assert again.status_code == 422 and "已在屏蔽名单中" in again.get_data(as_text=True)
    wrong = client.post(
        "/admin/blocklist",
        data={"csrf_token": token, "kind": "ip", "value": "not-an-ip", "reason": "x"},
    )
    assert wrong.status_code == 422
    removed = client.post(
        f"/admin/blocklist/{entry.id}/remove", data={"csrf_token": token, "confirm": "1"}
    )
    assert removed.status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(BlockedSender)) is None
    assert actions(db) == ["blocklist.add", "blocklist.remove"]


@pytest.mark.parametrize("role", ["handler", "supervisor"])
def test_other_roles_may_not_touch_the_list_or_the_review_queue(client, db, login_as, role):
    login_as(role)
    for path in ("/admin/blocklist", "/admin/review"):
        assert client.get(path).status_code == 403
    posted = client.post("/admin/blocklist", data={"kind": "ip", "value": "1.2.3.4", "reason": "x"})
    assert posted.status_code in (400, 403)
    assert db.session.scalar(select(BlockedSender)) is None


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    answer = client.get("/admin/blocklist")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_posts_without_a_csrf_token_change_nothing(client, db, login_as):
    login_as("admin")
    data = {"kind": "ip", "value": "1.2.3.4", "reason": "x"}
    assert client.post("/admin/blocklist", data=data).status_code == 400
    assert db.session.scalar(select(BlockedSender)) is None
    case, _ = make_case(db.session, held=True)
    assert client.post(f"/admin/review/cases/{case.number}/release").status_code == 400
    db.session.expire_all()
    assert db.session.get(Case, case.id).held


def test_releasing_and_rejecting_from_the_review_queue(client, db, login_as):
    login_as("dispatcher")
    keep, _ = make_case(db.session, email="ok@example.cn", held=True)
    spam, _ = make_case(db.session, position=(30.28, 120.16), email="spam@example.cn", held=True)
    queue = client.get("/admin/review").get_data(as_text=True)
    assert keep.number in queue and spam.number in queue
    token = csrf(client, "/admin/review")
    url = "/admin/review/cases/{}/{}"
    assert (
        client.post(url.format(keep.number, "release"), data={"csrf_token": token}).status_code
        == 303
    )
    refused = client.post(url.format(spam.number, "reject"), data={"csrf_token": token})
    assert "请填写理由" in client.get(refused.headers["Location"]).get_data(as_text=True)
    data = {"csrf_token": token, "reason": "广告"}
    assert client.post(url.format(spam.number, "reject"), data=data).status_code == 303
    db.session.expire_all()
    keep, spam = db.session.get(Case, keep.id), db.session.get(Case, spam.id)
    assert not keep.held and keep.respond_due_at is not None
    assert spam.held and spam.state == "rejected"
    assert client.get(f"/cases/{keep.number}").status_code == 200
    assert client.get(f"/cases/{spam.number}").status_code == 404
    assert [m.recipient for m in db.session.scalars(select(OutboxMessage))] == ["ok@example.cn"]
    assert actions(db) == ["case.release", "case.reject_held"]
    assert "没有等待审核的内容" in client.get("/admin/review").get_data(as_text=True)


def block(client, token: str, value: str, **extra):
    data = {"csrf_token": token, "kind": "ip", "value": value, "reason": "批量提交", **extra}
    return client.post("/admin/blocklist", data=data)


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "10.0.0.0/15"])
def test_an_admin_blocks_a_wide_network_only_on_a_second_confirmed_submit(
    client, db, login_as, value
):
    login_as("admin")
    token = csrf(client, "/admin/blocklist")
    assert 'name="confirm_wide"' not in client.get("/admin/blocklist").get_data(as_text=True)
    first = block(client, token, value)
    page = first.get_data(as_text=True)
    assert first.status_code == 422 and "这个网段宽于" in page
    assert f'value="{value}"' in page and "批量提交" in page  # what was typed stays
    assert 'name="confirm_wide"' in page and 'name="wide_reason"' in page
    unreasoned = block(client, token, value, confirm_wide="y")
    assert unreasoned.status_code == 422 and "请说明" in unreasoned.get_data(as_text=True)
    assert db.session.scalar(select(BlockedSender)) is None
    confirmed = block(client, token, value, confirm_wide="y", wide_reason="境外刷单")
    assert confirmed.status_code == 303
    entry = db.session.scalar(select(BlockedSender))
    audited = db.session.scalar(select(AuditEntry))
    assert audited.object_id == str(entry.id)
    assert audited.after["wide_confirmed_because"] == "境外刷单"


@pytest.mark.parametrize(
    ("value", "stored"), [("10.0.0.0/16", "10.0.0.0/16"), ("2001:DB8::/48", "2001:db8::/48")]
)
def test_an_admin_blocks_a_network_up_to_the_limit_at_once(client, db, login_as, value, stored):
    login_as("admin")
    assert block(client, csrf(client, "/admin/blocklist"), value).status_code == 303
    assert db.session.scalar(select(BlockedSender.value)) == stored


def test_a_dispatcher_blocks_an_address_but_not_a_network(client, db, login_as):
    login_as("dispatcher")
    token = csrf(client, "/admin/blocklist")
    refused = block(client, token, "10.0.0.0/24", confirm_wide="y", wide_reason="我确认")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "调度员只能屏蔽单个地址" in page
    assert 'value="10.0.0.0/24"' in page
    assert db.session.scalar(select(BlockedSender)) is None
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = block(client, token, "10.0.0.0/24").get_data(as_text=True)
    assert "Dispatchers may block single addresses only" in page
    assert block(client, token, "10.0.0.1").status_code == 303
    assert db.session.scalar(select(BlockedSender.value)) == "10.0.0.1/32"


def test_an_address_written_with_a_prefix_is_refused_with_the_network_meant(client, db, login_as):
    login_as("admin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = block(client, csrf(client, "/admin/blocklist"), "203.0.113.9/24").get_data(as_text=True)
    assert "or the network 203.0.113.0/24" in page and 'value="203.0.113.9/24"' in page
    assert db.session.scalar(select(BlockedSender)) is None


def test_the_list_shows_what_each_entry_holds_undecided(client, db, login_as):
    login_as("admin")
    token = csrf(client, "/admin/blocklist")
    block(client, token, "127.0.0.1")  # the test client's address
    client.post(
        "/admin/blocklist",
        data={"csrf_token": token, "kind": "email", "value": "spam@example.cn", "reason": "广告"},
    )
    client.post(
        "/admin/blocklist",
        data={"csrf_token": token, "kind": "phone", "value": "13800001111", "reason": "骚扰"},
    )
    entries = {e.value: e for e in db.session.scalars(select(BlockedSender))}
    for n in range(3):
        make_case(db.session, position=(30.27 + n / 100, 120.15), held_by=entries["127.0.0.1/32"])
    make_case(db.session, email="spam@example.cn", held_by=entries["spam@example.cn"])
    page = client.get("/admin/blocklist").get_data(as_text=True)
    rows = {
        value: re.search(rf"<code>{re.escape(value)}</code>.*?</tr>", page, re.S).group(0)
        for value in entries
    }
    held = lambda row: re.findall(r"<td[^>]*>(?:<a [^>]*>)?(\d+)(?:</a>)?</td>", row)  # noqa: E731
    assert held(rows["127.0.0.1/32"]) == ["3"]
    assert held(rows["spam@example.cn"]) == ["1"]
    assert held(rows["13800001111"]) == ["0"]
    # On a phone the header row is hidden: each cell that is not self-evident names itself,
    # and each Remove button says which entry it removes.
    row = rows["spam@example.cn"]
    for label in ("理由", "添加时间", "有效期至", "暂扣待审"):
        assert f'data-label="{label}"' in row, label
    assert re.search(r"移除<span class=\"visually-hidden\"> spam@example.cn</span>", row)
