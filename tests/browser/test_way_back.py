"""A resident gets back to their case on a phone, in Chinese: by the link that arrives by mail,
and from another device with the case number and query code."""

import re
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Case, utcnow
from portal.services import case_links, outbox, workflow
from tests.browser.conftest import PHONE
from tests.factories import category, make_case, make_user
from tests.services.test_outbox import Inbox, free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def mailbox(app, live_server):
    """Serve links on the live server, and receive the portal's mail on a local SMTP server."""
    port = free_port()
    app.config.update(PUBLIC_URL=live_server, SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox
    controller.stop()


def delivered(db, inbox: Inbox, to: str) -> Message:
    """Deliver the outbox and return the last message that reached an address."""
    outbox.deliver(db.session, utcnow())
    return [m for m in inbox.messages if m["To"] == to][-1]


def text_of(message: Message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


def test_the_private_link_arrives_by_mail_and_works(
    live_server, page_factory, db, reference, mailbox
):
    page = page_factory(PHONE, permissions=["clipboard-read", "clipboard-write"])
    page.goto(live_server + "/report/new")
    page.select_option("#category", category(db.session).code)
    page.fill("#lat", "30.274100")
    page.fill("#lng", "120.155100")
    page.fill("#description", "小区门口的井盖松动了，踩上去会翻。")
    page.fill("#email", "zhang@example.cn")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/report/done/.*"))
    code = page.locator("#query-code").inner_text()
    assert re.fullmatch(r"\d{6}", code)
    page.get_by_role("button", name="复制链接").click()
    expect(page.locator("#copy-status")).to_have_text("链接已复制。")
    assert page.evaluate("navigator.clipboard.readText()") == page.input_value("#tracking-link")

    case = db.session.scalars(select(Case)).one()
    confirmation = text_of(delivered(db, mailbox, "zhang@example.cn"))
    assert code in confirmation and case.number in confirmation
    link = re.search(r"(http://\S+/track/\S+)", confirmation).group(1)
    assert link.startswith(live_server)

    # On another phone, the mailed link opens the private page.
    other = page_factory(PHONE)
    other.goto(link)
    expect(other.get_by_role("heading", name="您的专属页面")).to_be_visible()

    # The office asks a question; the mail's link goes straight to the answer form.
    dispatcher = make_user(db.session, "dispatcher")
    workflow.accept(db.session, case, dispatcher, "normal", utcnow())
    workflow.ask_info(db.session, case, dispatcher, "请补充照片。", utcnow())
    db.session.commit()
    question = text_of(delivered(db, mailbox, "zhang@example.cn"))
    answer_link = re.search(r"(http://\S+#answer)", question).group(1)
    other.goto("about:blank")  # else only the fragment would change, on the old page
    other.goto(answer_link)
    expect(other.locator("#answer textarea")).to_be_in_viewport()
    other.fill("#answer textarea", "照片已补充在这里：井盖在2号楼门口。")
    other.get_by_role("button", name="提交补充信息").click()
    expect(other.locator(".flash.success")).to_be_visible()
    db.session.refresh(case)
    assert case.paused_at is None
    assert page.console_errors == [] and other.console_errors == []


def test_the_query_code_opens_the_case_from_any_device(live_server, page_factory, db, reference):
    case, token = make_case(db.session)
    code = case_links.query_code(token)
    page = page_factory(PHONE)
    page.goto(live_server + f"/cases/{case.number}")
    page.get_by_role("link", name="是您反映的？用查询码打开").click()
    page.wait_for_url("**/track?number=*")
    assert page.input_value("#number") == case.number
    page.fill("#code", f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="查看我的案件").click()
    expect(page.locator("#code-error")).to_contain_text("案件编号与查询码不匹配")
    assert page.input_value("#number") == case.number
    page.fill("#code", code)
    page.get_by_role("button", name="查看我的案件").click()
    expect(page.get_by_role("heading", name="您的专属页面")).to_be_visible()
    assert "/track/" in page.url
    assert page.console_errors == []
