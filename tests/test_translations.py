"""Every user-facing string is translated into Chinese."""

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_every_string_in_the_code_has_a_chinese_translation(tmp_path):
    with ZH.open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans_CN")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = extracted(tmp_path) - translated
    assert not missing, f"run `make extract` and translate: {sorted(missing)[:10]}"


# Chinese text takes full-width punctuation: ：，（） rather than : , ( ). ASCII marks stay
# where they are syntax, not prose: placeholders, URLs, and a CSV line shown as an example.
CJK = "[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
ASCII_BESIDE_CJK = re.compile(rf"(?<={CJK})[:,()]|[:,()](?={CJK})")
SYNTAX = re.compile(
    r"%\(\w+\)[sd]"  # placeholders
    r"|%[sd]"
    r"|[A-Za-z][A-Za-z0-9+.-]*://[^\s“”（）]+"  # URLs
    r"|\d{4}-\d{2}-\d{2},[a-z]+,[^”\s]+"  # the calendar import's CSV line: date,kind,name
)


def ascii_punctuation_beside_chinese(text: str) -> list[str]:
    """Return the ASCII : , ( ) that touch a Chinese character, outside syntax."""
    masked = SYNTAX.sub(lambda found: "x" * len(found[0]), text)
    return [masked[max(m.start() - 6, 0) : m.end() + 6] for m in ASCII_BESIDE_CJK.finditer(masked)]


def test_the_scan_finds_ascii_punctuation_beside_chinese():
    assert ascii_punctuation_beside_chinese("原因:未修复") == ["原因:未修复"]
    assert ascii_punctuation_beside_chinese("道路,排水") and ascii_punctuation_beside_chinese(
        "路灯(夜间)"
    )
    assert not ascii_punctuation_beside_chinese("原因：%(reason)s，见 https://a.cn/x,y")
    assert not ascii_punctuation_beside_chinese("例如“2027-10-01,holiday,国庆节”")
    assert not ascii_punctuation_beside_chinese("bbox 120.1,30.2 (WGS-84)")


def test_chinese_strings_use_chinese_punctuation():
    with ZH.open("rb") as f:
        catalog = read_po(f)
    wrong = {}
    for message in catalog:
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in texts:
            found = ascii_punctuation_beside_chinese(text or "")
            if found:
                wrong[text] = found
    assert not wrong, wrong


def test_templates_put_no_ascii_colon_after_a_translated_label():
    # "{{ _("Inspection report") }}: name" reads "抽查报告: …" in Chinese; colon() picks "：".
    templates = [
        *(ROOT / "portal/templates").rglob("*.html"),
        *(ROOT / "admin/templates").rglob("*.html"),
    ]
    wrong = [str(t) for t in templates if "}}: " in t.read_text(encoding="utf-8")]
    assert not wrong


def test_a_label_and_its_value_take_the_colon_of_the_language(app):
    from flask_babel import force_locale

    from portal.i18n import colon

    with app.test_request_context():
        with force_locale("zh_Hans_CN"):
            assert colon() == "："
        with force_locale("en"):
            assert colon() == ": "


def test_a_template_in_a_forced_language_speaks_it_then_the_page_s_again(app):
    """A mail in the reporter's language, built while a page is served in another: the
    catalog the templates keep for the request follows the locale."""
    from flask import render_template_string
    from flask_babel import force_locale

    page = "{{ _('Queue') }}"
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        chinese = render_template_string(page)
        with force_locale("en"):
            assert render_template_string(page) == "Queue"
        assert render_template_string(page) == chinese != "Queue"
