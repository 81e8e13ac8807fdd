"""The outbox page: queued, failed and sent mail with the reason, and a retry; admins only."""

from datetime import timedelta

import pytest

from portal.models import OutboxMessage, utcnow


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def failed(db, reference):
    message = OutboxMessage(
        recipient="resident@example.cn",
        subject="案件进展",
        body="b",
        attempts=2,
        last_error="SMTPRecipientsRefused: 550 no such user",
        next_attempt_at=utcnow() + timedelta(minutes=30),
    )
    db.session.add_all(
        [
            message,
            OutboxMessage(recipient="x@example.cn", subject="已发", body="b", sent_at=utcnow()),
        ]
    )
    db.session.commit()
    return message


def test_admins_see_failed_mail_with_the_reason_and_retry_it(client, db, login_as, failed):
    login_as("admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "550 no such user" in page and "resident@example.cn" in page
    assert "发送失败 (1)" in page and "待发送 (0)" in page and "已发送 (1)" in page
    answer = client.post(f"/admin/outbox/{failed.id}/retry", data={"status": "failed"})
    assert answer.status_code == 303
    db.session.refresh(failed)
    assert failed.next_attempt_at <= utcnow()
    sent_page = client.get("/admin/outbox?status=sent").get_data(as_text=True)
    assert "x@example.cn" in sent_page and "/retry" not in sent_page


@pytest.mark.parametrize("query", ["?status=garbage", "?page=999999", "?page=-1&status="])
def test_odd_parameters_do_not_break_the_page(client, login_as, failed, query):
    login_as("admin")
    assert client.get("/admin/outbox" + query).status_code == 200


def test_a_missing_message_is_404(client, login_as, failed):
    login_as("admin")
    assert client.post("/admin/outbox/99999999999/retry").status_code == 404


@pytest.mark.parametrize("role", ["dispatcher", "handler"])
def test_other_roles_are_refused(client, login_as, failed, role):
    login_as(role)
    assert client.get("/admin/outbox").status_code == 403
    assert client.post(f"/admin/outbox/{failed.id}/retry").status_code == 403
