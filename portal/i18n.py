"""Language choice: Chinese first, English second."""

from __future__ import annotations

from flask import Flask, Response, g, request, session
from flask_babel import get_locale
from werkzeug.datastructures import LanguageAccept

from portal.extensions import babel

LANGUAGE_COOKIE = "lang"


def select_locale() -> str:
    """Pick the locale from the user's switch, then the browser, then Chinese."""
    chosen = session.get(LANGUAGE_COOKIE)
    if chosen in ("zh_Hans_CN", "en"):
        return chosen
    g.language_negotiated = True
    return browser_locale(request.accept_languages)


def browser_locale(accept_languages: LanguageAccept) -> str:
    """Pick the locale the browser's Accept-Language prefers, Chinese unless English."""
    best = accept_languages.best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else "zh_Hans_CN"


def html_lang() -> str:
    """Return the BCP 47 tag for the <html lang> attribute."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh-Hans-CN"


def colon() -> str:
    """Return the colon between a label and its value: full-width in Chinese, ": " in English."""
    locale = get_locale()
    return ": " if locale is not None and locale.language == "en" else "："


def vary_by_language(response: Response) -> Response:
    """Tell caches that an answer whose language came from Accept-Language differs by it."""
    if g.get("language_negotiated"):
        response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the portal's locale selector."""
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
    )
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["colon"] = colon
    app.after_request(vary_by_language)
