"""The way back to a case: every mail to the reporter carries the private link to the action it
asks for; the query code opens the case from any device; lost links are mailed again; people
who said "me too" get the updates and can stop them."""

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.models import CaseFollower, Department, OutboxMessage, utcnow
from portal.services import case_links, cases, workflow
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case, make_user

REPORTER = "resident@example.cn"
FOLLOWER = "neighbour@example.cn"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def staff(db, reference):
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    return {
        "dispatcher": make_user(db.session, "dispatcher"),
        "handler": make_user(db.session, "handler", department=road),
        "road": road,
    }


def _accepted(db, staff):
    case, _token = make_case(db.session, category_code="0101", email=REPORTER)
    cases.follow(db.session, case, utcnow(), email=FOLLOWER)
    workflow.accept(db.session, case, staff["dispatcher"], "normal", utcnow())
    return case


def _resolved(db, staff, app):
    case = _accepted(db, staff)
    workflow.route(db.session, case, staff["dispatcher"], staff["road"], utcnow())
    workflow.start(db.session, case, staff["handler"], utcnow())
    store = PhotoStore(app.config["UPLOAD_DIR"])
    workflow.resolve(
        db.session, case, staff["handler"], "已修补。", [jpeg_photo()], store, utcnow()
    )
    return case


def _closed(db, staff, app):
    case = _resolved(db, staff, app)
    workflow.close(db.session, case, staff["dispatcher"], "核查通过", utcnow())
    return case


def _reopened(db, staff, app):
    case = _closed(db, staff, app)
    cases.reopen(db.session, case, "还是有坑。", utcnow())
    return case


# The message's kind, how to get there, and the form (by its id) the reporter's link opens.
KINDS = {
    "submitted": (lambda db, staff, app: _accepted(db, staff), None),
    "info_requested": (
        lambda db, staff, app: (
            workflow.ask_info(
                db.session, _accepted(db, staff), staff["dispatcher"], "请补充照片。", utcnow()
            ).case
        ),
        "answer",
    ),
    "public_reply": (
        lambda db, staff, app: (
            workflow.reply(
                db.session, _accepted(db, staff), staff["dispatcher"], "已安排修补。", utcnow()
            ).case
        ),
        None,
    ),
    "resolved": (_resolved, "feedback"),
    "closed": (_closed, "feedback"),
    "reopened": (_reopened, None),
}


def mail(db, kind: str, to: str) -> OutboxMessage:
    return db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == f"resident.{kind}", OutboxMessage.recipient == to)
        .order_by(OutboxMessage.id.desc())
    ).first()


def links(body: str) -> list[str]:
    return [urlsplit(u) for u in re.findall(r"https?://\S+", body)]


@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_to_the_reporter_carries_the_private_link_to_its_action(
    app, client, db, staff, kind
):
    make, form_id = KINDS[kind]
    case = make(db, staff, app)
    db.session.commit()
    message = mail(db, kind, REPORTER)
    assert message is not None, kind
    private = [u for u in links(message.body) if u.path.startswith("/track/")]
    assert private, message.body
    for url in private:
        assert url.netloc == urlsplit(app.config["PUBLIC_URL"]).netloc
        page = client.get(url.path)
        assert page.status_code == 200
        assert "您的专属页面" in page.get_data(as_text=True)
    if form_id is not None:
        # The link goes to the form the message asks the reporter to fill in.
        assert any(u.fragment == form_id for u in private), message.body
        page = client.get(private[0].path).get_data(as_text=True)
        assert f'id="{form_id}"' in page
        if form_id == "answer":
            assert 'name="body"' in page
        if kind == "closed":
            assert 'name="rating"' in page and 'id="reopen"' in page
    assert case.number in message.subject


@pytest.mark.parametrize("kind", KINDS)
def test_followers_get_the_public_page_and_a_way_to_stop_never_the_private_link(
    app, db, staff, kind
):
    make, _ = KINDS[kind]
    make(db, staff, app)
    db.session.commit()
    message = mail(db, kind, FOLLOWER)
    if kind == "submitted":  # they followed after it was submitted
        assert message is None
        return
    paths = [u.path for u in links(message.body)]
    assert not any(p.startswith("/track/") for p in paths), message.body
    assert any(p.startswith("/cases/") for p in paths)
    assert any(p.startswith("/unsubscribe/") for p in paths)


def test_the_confirmation_mail_carries_the_query_code(app, client, db, staff):
    _case, token = make_case(db.session, email=REPORTER)
    message = mail(db, "submitted", REPORTER)
    code = case_links.query_code(token)
    assert code in message.body and "/track" in message.body


def test_the_confirmation_page_shows_the_code_copy_and_send(app, client, db, reference):
    case, token = make_case(db.session)
    with client.session_transaction() as session:
        session["tracking"] = [[case.number, token]]
    page = client.get(f"/report/done/{case.number}").get_data(as_text=True)
    assert case_links.query_code(token) in page
    assert 'id="copy-link"' in page and f'value="{app.config["PUBLIC_URL"]}/track/{token}"' in page
    sent = client.post(f"/report/done/{case.number}/send", data={"email": "Me@Example.cn"})
    assert sent.status_code == 303
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.recipient == "me@example.cn" and message.kind == "resident.private_link"
    path = next(u.path for u in links(message.body) if u.path.startswith("/track/"))
    assert client.get(path).status_code == 200
    assert "正在发送" in client.get(sent.headers["Location"]).get_data(as_text=True)


def test_only_the_reporter_may_have_the_link_sent_from_the_confirmation(app, client, db, reference):
    case, _ = make_case(db.session)
    sent = client.post(f"/report/done/{case.number}/send", data={"email": "x@example.cn"})
    assert sent.status_code == 303
    assert db.session.scalars(select(OutboxMessage)).first() is None


def test_the_query_code_opens_the_private_page(app, client, db, reference):
    case, token = make_case(db.session)
    assert "查询码" in client.get("/track").get_data(as_text=True)
    opened = client.post(
        "/track", data={"number": case.number, "code": case_links.query_code(token)}
    )
    assert opened.status_code == 303
    page = client.get(opened.headers["Location"])
    assert page.status_code == 200 and "您的专属页面" in page.get_data(as_text=True)


def test_a_wrong_pair_gets_the_same_answer_whether_the_case_exists_or_not(
    app, client, db, reference
):
    case, token = make_case(db.session)
    wrong = f"{(int(case_links.query_code(token)) + 1) % 10**6:06d}"
    answers = []
    for number in (case.number, "2026-999999"):
        response = client.post("/track", data={"number": number, "code": wrong})
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        answers.append(re.search(r'<p class="field-error"[^>]*>(.*?)</p>', text).group(1))
        assert f'value="{number}"' in text  # what was typed stays
    assert answers[0] == answers[1] and "不匹配" in answers[0]


def test_a_lost_link_goes_only_to_the_address_on_the_case_with_the_same_answer(
    app, client, db, reference
):
    case, _ = make_case(db.session, email=REPORTER, locale="en")
    pages = []
    for email in ("someone@example.cn", REPORTER.upper()):
        response = client.post("/track/link", data={"case_number": case.number, "email": email})
        assert response.status_code == 200
        # Every CSRF token on the page (signed with the second it was made) set aside.
        pages.append(
            re.sub(r'"[\w-]+\.[\w-]{6}\.[\w-]{27}"', '"csrf"', response.get_data(as_text=True))
        )
    assert pages[0] == pages[1]
    sent = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "resident.private_link")
    ).all()
    assert [m.recipient for m in sent] == [REPORTER]
    assert "Your private link" in sent[0].subject  # in the reporter's language
    assert "/track/" in sent[0].body


def test_the_public_page_and_footer_lead_to_the_lookup(client, db, reference):
    case, _ = make_case(db.session)
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert f'href="/track?number={case.number}"' in page
    assert f'href="/track?number={case.number}#resend"' in page
    assert 'href="/track"' in page


def test_me_too_without_an_email_can_add_one_then_unsubscribe(client, db, reference):
    case, _ = make_case(db.session)
    asked = client.post(f"/cases/{case.number}/follow", data={})
    assert asked.status_code == 303
    # The e-mail field is far down a phone's screen: the answer lands on it.
    assert asked.headers["Location"].endswith("#follow-heading")
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "/follow/email" in page and 'id="follow-heading"' in page
    refused = client.post(f"/cases/{case.number}/follow/email", data={"email": "nope"})
    assert refused.status_code == 422
    assert 'value="nope"' in refused.get_data(as_text=True)
    client.post(f"/cases/{case.number}/follow/email", data={"email": FOLLOWER})
    follower = db.session.scalars(select(CaseFollower)).one()
    db.session.refresh(case)
    assert follower.email == FOLLOWER and case.followers_count == 1
    assert "/follow/email" not in client.get(f"/cases/{case.number}").get_data(as_text=True)

    staff = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, staff, "normal", utcnow())
    db.session.commit()
    path = next(u.path for u in links(mail(db, "accepted", FOLLOWER).body) if "unsub" in u.path)
    asked = client.get(path)  # a mail scanner's visit changes nothing
    assert asked.status_code == 200 and "<form" in asked.get_data(as_text=True)
    db.session.refresh(follower)
    assert follower.email == FOLLOWER
    done = client.post(path)
    assert done.status_code == 200
    db.session.refresh(follower)
    assert follower.email == "" and case.followers_count == 1
    workflow.reply(db.session, case, staff, "已安排。", utcnow())
    db.session.commit()
    assert mail(db, "public_reply", FOLLOWER) is None
    assert client.get(path[:-3] + "abc").status_code == 404


def test_someone_elses_me_too_gets_no_email_from_this_browser(client, db, reference):
    case, _ = make_case(db.session)
    follower = cases.follow(db.session, case, utcnow())
    db.session.commit()
    with client.session_transaction() as session:
        session["followed"] = [case.id]
        session["follows"] = [[case.id + 1, follower.id]]
    client.post(f"/cases/{case.number}/follow/email", data={"email": FOLLOWER})
    db.session.refresh(follower)
    assert follower.email == ""
