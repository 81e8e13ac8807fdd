"""Staff Markdown becomes HTML that cannot run script in a resident's browser."""

import re

import pytest

from portal.services import markup

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<svg onload="alert(1)"></svg>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name="q"></form>',
    '<a href="#" onclick="alert(1)">x</a>',
]


def dangerous(html: str) -> list[str]:
    lowered = html.lower()
    found = [
        word
        for word in (
            "<script",
            "<iframe",
            "<style",
            "<img",
            "<svg",
            "<object",
            "<embed",
            "<form",
            "<input",
            "javascript:",
            "data:text",
            "onerror",
            "onload",
            "onclick",
            "style=",
        )
        if word in lowered
    ]
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_sanitizer_removes_every_way_to_run_script(attack):
    html = str(markup.sanitize(attack))
    assert dangerous(html) == []
    assert set(re.findall(r"<([a-zA-Z0-9]+)", html)) <= markup.TAGS


@pytest.mark.parametrize("attack", ATTACKS)
def test_raw_html_in_markdown_is_shown_as_text_never_as_markup(attack):
    html = str(markup.render(f"工程进展\n\n{attack}\n\n继续施工"))
    assert re.findall(r"<[^>]*>", html) == ["<p>", "</p>"] * 3  # the only real tags
    assert "&lt;" in html  # the attack is there to read, as text
    assert "工程进展" in html and "继续施工" in html


def test_markdown_links_to_script_are_not_links():
    html = str(markup.render("[点此](javascript:alert(1)) 和 [详情](vbscript:msgbox(1))"))
    assert "href" not in html
    html = str(markup.render("![x](https://evil.example/x.png)"))
    assert "<img" not in html


def test_allowed_markdown_comes_through_with_safe_links():
    html = str(
        markup.render(
            "# 第一阶段\n\n**加粗** *强调* ~~删除~~\n\n- 一\n- 二\n\n"
            "| 项目 | 完成量 |\n|:--|--:|\n| 管道 | 860 米 |\n\n"
            '[详情](https://example.cn/a "说明") [反映问题](/report/new)'
        )
    )
    assert "<h2>第一阶段</h2>" in html  # the page's own title is the only h1
    assert "<strong>加粗</strong>" in html and "<em>强调</em>" in html and "<s>删除</s>" in html
    assert "<li>一</li>" in html and "<td>860 米</td>" in html and "style" not in html
    assert '<a href="https://example.cn/a" title="说明" rel="noopener nofollow">详情</a>' in html
    assert '<a href="/report/new" rel="noopener nofollow">反映问题</a>' in html


def test_plain_text_summary_has_no_tags_and_is_cut():
    assert markup.plain("# 标题\n\n**正文** <b>x</b> & y") == "标题 正文 <b>x</b> & y"
    assert len(markup.plain("字" * 500, limit=50)) == 50
