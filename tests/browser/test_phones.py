"""Phones, keyboards and both languages: the folding menu and filters, tap targets, axe-core.

axe-core is vendored in tests/browser/vendor (see its README); it runs inside each page with
the page's CSP bypassed, since the portal never serves it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from portal.models import utcnow
from portal.services import suggestions
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import (
    make_case,
    make_consultation,
    make_notice,
    make_project,
    make_user,
)

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
PHONE_ZH = ("zh-CN", PHONE)
SIZES = {"phone": PHONE, "desktop": {**DESKTOP, "viewport": {"width": 1280, "height": 800}}}
LOCALES = {"zh": "zh-CN", "en": "en-GB"}


def public_pages(db) -> list[str]:
    """Build one of everything the public sees; return the paths of the public URL map."""
    staff = make_user(db.session, role="dispatcher")
    project = make_project(db.session, "W-0001", phase="construction", name="大关路道路提升工程")
    case, token = make_case(db.session)
    consultation = make_consultation(db.session, staff, opened=utcnow() - timedelta(days=1))
    now = utcnow()
    notice = make_notice(
        db.session,
        staff,
        project=project,
        case_numbers=(case.number,),
        publish_at=now - timedelta(hours=1),
        now=now,
    )
    _suggestion, suggestion_token = suggestions.send(
        db.session, "拓宽大关路人行道", "人行道太窄，建议拓宽。", now, project=project
    )
    db.session.commit()
    return [
        "/",
        "/cases",
        f"/cases/{case.number}",
        f"/track/{token}",
        "/report/new",
        "/kpi",
        "/notices",
        f"/notices/{notice.id}",
        "/contractors",
        "/projects",
        f"/projects/{project.code}",
        "/consultations",
        f"/consultations/{consultation.id}",
        "/suggestions",
        "/suggestions/new",
        f"/suggestions/track/{suggestion_token}",
        "/privacy",
        "/login",
        "/password/forgot",
        "/supervisor/apply",
    ]


def open_ready(page, url: str) -> None:
    """Open a page and wait until its scripts and maps have settled."""
    page.goto(url)
    page.wait_for_load_state("networkidle")


def serious_violations(page) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, readable."""
    page.evaluate(AXE)
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("language", list(LOCALES))
def test_axe_finds_nothing_serious_on_any_public_page(
    live_server, page_factory, db, reference, language, size
):
    paths = public_pages(db)
    page = page_factory(SIZES[size], locale=LOCALES[language], bypass_csp=True)
    found = {}
    for path in paths:
        open_ready(page, live_server + path)
        if language == "en" and page.locator("html[lang='en']").count() == 0:
            page.goto(f"{live_server}/lang/en?next={path}")  # the switch, as a resident would
            page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang").startswith(language), path
        if size == "phone":
            # The folded menu and filters are checked open too.
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        violations = serious_violations(page)
        if violations:
            found[path] = violations
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


# Every tap target measured on a phone: a, button, input, select, textarea, summary, and
# what scripts made tappable (Leaflet's markers and controls). WCAG 2.2 SC 2.5.8 asks for
# 24 x 24 CSS px, except (a) "inline": a link inside a sentence, whose size the line of text
# sets, and (b) "spacing": a 24 px circle on the target's centre touches no other target
# or circle. Both exceptions are computed here, not assumed.
MEASURE = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary,'
    + ' [role=button], [tabindex="0"]:not(main):not(.leaflet-container), .leaflet-interactive';
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && style.visibility !== 'hidden'
      && r.right > 0 && r.left < document.documentElement.clientWidth
      && !el.closest('[hidden], .leaflet-pane.leaflet-tooltip-pane');
  };
  const targets = [...document.querySelectorAll(selector)].filter(visible).map((el) => {
    const r = el.getBoundingClientRect();
    return { el, x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };
  });
  // A link inside a sentence: displayed inline, among other text of the same block.
  const inSentence = (el) => {
    if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display === 'inline') block = block.parentElement;
    if (!block) return false;
    const own = (el.textContent || '').trim();
    const all = (block.textContent || '').replace(/\\s+/g, ' ').trim();
    return all.length > own.length + 3;
  };
  const small = (t) => t.w < 24 - 0.01 || t.h < 24 - 0.01;
  // The spacing exception: circles of 24 px diameter on undersized targets' centres.
  const spaced = (t) => targets.every((o) => {
    if (o === t || o.el.contains(t.el) || t.el.contains(o.el)) return true;
    const distance = Math.hypot(o.x - t.x, o.y - t.y);
    if (small(o)) return distance >= 24;
    // Distance from t's centre to o's rectangle must leave room for t's 12 px radius.
    const dx = Math.max(Math.abs(o.x - t.x) - o.w / 2, 0);
    const dy = Math.max(Math.abs(o.y - t.y) - o.h / 2, 0);
    return Math.hypot(dx, dy) >= 12;
  });
  const describe = (t) => {
    const el = t.el;
    const name = (el.getAttribute('aria-label') || el.textContent || el.name || el.id || '')
      .trim().slice(0, 30);
    return `${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className} "${name}" `
      + `${t.w.toFixed(1)}x${t.h.toFixed(1)}`;
  };
  return {
    measured: targets.length,
    inline: targets.filter((t) => small(t) && inSentence(t.el)).map(describe),
    failures: targets.filter((t) => small(t) && !inSentence(t.el) && !spaced(t)).map(describe),
  };
}
"""


@pytest.mark.parametrize("language", list(LOCALES))
def test_tap_targets_are_24_px_on_a_phone(live_server, page_factory, db, reference, language):
    paths = public_pages(db)
    page = page_factory(PHONE, locale=LOCALES[language])
    if language == "en":
        page.goto(f"{live_server}/lang/en?next=/")
    failures = {}
    measured = 0
    for path in paths:
        open_ready(page, live_server + path)
        for state in ("folded", "unfolded"):
            if state == "unfolded":
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            result = page.evaluate(MEASURE)
            measured += result["measured"]
            if result["failures"]:
                failures[f"{path} ({state})"] = result["failures"]
    assert measured > 200  # the walk did measure the pages
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_the_measurement_catches_a_small_target_and_exempts_a_sentence(
    live_server, page_factory, db, reference
):
    page = page_factory(PHONE)
    open_ready(page, live_server + "/privacy")
    page.evaluate(
        """() => {
          const main = document.querySelector('main');
          main.insertAdjacentHTML('beforeend',
            '<p>请阅读<a class="plain" href="/privacy">隐私说明</a>后再提交。</p>'
            + '<div><button style="all:unset;font-size:10px">x</button>'
            + '<button style="all:unset;font-size:10px">y</button></div>');
        }"""
    )
    result = page.evaluate(MEASURE)
    assert any('"隐私说明"' in t for t in result["inline"])
    assert any('"x"' in t for t in result["failures"])
    assert any('"y"' in t for t in result["failures"])


def test_the_phone_menu_folds_and_opens_from_the_keyboard(live_server, page_factory, db, reference):
    page = page_factory(PHONE)
    open_ready(page, live_server + "/")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 80  # it took 185 of 844 px before it folded
    nav = page.locator(".main-nav")
    assert not nav.is_visible()
    menu = page.get_by_text("菜单", exact=True)
    assert menu.bounding_box()["height"] >= 44
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the site name
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "菜单"
    page.keyboard.press("Enter")
    assert nav.is_visible()
    assert page.locator(".site-menu").get_attribute("open") is not None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "地图"
    # The open menu lies over the page, not beside it, and fits the screen.
    box = nav.bounding_box()
    assert box["width"] <= 390 and box["y"] >= header["y"] + header["height"] - 1
    nav.get_by_role("link", name="工程项目", exact=True).click()
    page.wait_for_url(live_server + "/projects")
    assert page.locator("h1").inner_text() == "工程项目"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_phone_menu_works_without_script(live_server, page_factory, db, reference):
    page = page_factory(PHONE, java_script_enabled=False)
    page.goto(live_server + "/")
    assert not page.locator(".main-nav").is_visible()
    page.get_by_text("菜单", exact=True).click()
    page.locator(".main-nav").get_by_role("link", name="案件", exact=True).click()
    page.wait_for_url(live_server + "/cases")


def test_the_desktop_menu_is_always_open(live_server, page_factory, db, reference):
    page = page_factory(SIZES["desktop"])
    open_ready(page, live_server + "/")
    assert page.locator(".main-nav").is_visible()
    assert not page.get_by_text("菜单", exact=True).is_visible()
    assert page.locator(".site-header").bounding_box()["height"] <= 130
    assert page.locator("form.filters").count() == 0
    open_ready(page, live_server + "/cases")
    assert page.locator("form.filters").is_visible()


def test_the_case_filters_fold_and_explain_a_wrong_date(live_server, page_factory, db, reference):
    make_case(db.session)
    page = page_factory(PHONE)
    open_ready(page, live_server + "/cases")
    filters = page.locator("form.filters")
    assert not filters.is_visible()
    assert page.locator("#q").is_visible()  # the search is in sight, outside the fold
    page.fill("#q", "井盖")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases?q=*")
    assert not filters.is_visible() and page.locator("#q").input_value() == "井盖"
    assert page.locator("table.data-table tbody tr").first.bounding_box()["y"] < 844
    open_ready(page, live_server + "/cases")
    # The first case is within the first screen once the filters fold.
    assert page.locator("table.data-table tbody tr").first.bounding_box()["y"] < 844
    page.get_by_text("筛选条件", exact=True).click()
    assert filters.is_visible()
    page.goto(live_server + "/cases?since=2026-11-20&until=2026-11-01")
    assert filters.is_visible()  # a filter in use, or wrong, keeps them open
    until = page.locator("#until")
    error = page.locator("#" + until.get_attribute("aria-describedby").split()[-1])
    assert error.is_visible() and "结束日期早于开始日期" in error.inner_text()
    page.goto(live_server + "/cases?since=2026-02-30")
    assert "不是日期" in page.locator("#since-error").inner_text()
    assert page.locator("#since-error").is_visible()


def test_contractor_records_keep_their_headings_on_a_phone(
    live_server, page_factory, db, reference
):
    from portal.models import Contractor

    db.session.add(Contractor(name="杭州市政建设有限公司", credit_code="91330100MA2XXXXX1X"))
    db.session.commit()
    page = page_factory(PHONE)
    open_ready(page, live_server + "/contractors")
    # The header row is out of sight on a phone; each cell shows its column's name before it.
    shown = page.evaluate(
        """() => [...document.querySelectorAll('table.data-table tbody tr:first-child td')]
          .map((td) => getComputedStyle(td, '::before').content)"""
    )
    head = page.locator("table.data-table thead").bounding_box()
    assert head is None or head["x"] + head["width"] <= 0
    for heading in ("抽查报告", "合格率", "发现的问题", "验收通过"):
        assert any(heading in label for label in shown), shown
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize(
    ("locale", "zoom_in", "zoom_out"), [("zh-CN", "放大", "缩小"), ("en-GB", "Zoom in", "Zoom out")]
)
def test_map_controls_speak_the_page_language(
    live_server, page_factory, db, reference, locale, zoom_in, zoom_out
):
    page = page_factory(PHONE, locale=locale)
    if locale == "en-GB":
        page.goto(f"{live_server}/lang/en?next=/")
    open_ready(page, live_server + "/")
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == zoom_in
    assert page.locator(".leaflet-control-zoom-out").get_attribute("aria-label") == zoom_out
    prefix = page.locator(".leaflet-control-attribution a").first
    assert prefix.inner_text().strip() == "Leaflet"
    title = prefix.get_attribute("title")
    assert ("交互式地图" in title) == (locale == "zh-CN")


def test_the_map_legend_leaves_the_layer_switch_free_on_a_phone(
    live_server, page_factory, db, reference
):
    page = page_factory(PHONE)
    open_ready(page, live_server + "/")
    legend = page.locator(".legend").bounding_box()
    switch = page.locator(".map-layer-toggle").bounding_box()
    assert legend is not None and switch is not None
    assert legend["y"] >= switch["y"] + switch["height"]  # below it, not over it
    page.locator("#facility-layer-toggle").check()  # and the switch takes a tap
    assert page.locator("#facility-layer-toggle").is_checked()


def test_axe_would_catch_the_map_as_it_was(live_server, page_factory, db, reference):
    """The maps were role="img" around Leaflet's focusable controls: nested-interactive."""
    case, _token = make_case(db.session)
    page = page_factory(PHONE, bypass_csp=True)
    open_ready(page, f"{live_server}/cases/{case.number}")
    assert serious_violations(page) == []
    page.evaluate("document.getElementById('case-map').setAttribute('role', 'img')")
    assert any(v.startswith("nested-interactive") for v in serious_violations(page))
