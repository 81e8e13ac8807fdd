"""Language choice: Chinese first, English second."""

from __future__ import annotations

from flask import Flask, Response, g, request, session
from flask_babel import get_locale, get_translations
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


def catalog():
    """Return the translations of the request's locale, found once per request and locale.

    Flask-Babel finds them anew for every string (its context, the locale, the locale's
    name, the cache: 15-30 µs a call); a queue page translates 200 strings. Kept beside
    the locale it was found for, so that `force_locale` (a mail in the reporter's
    language) gets its own."""
    context = g.get("_flask_babel")
    if context is not None:
        kept = getattr(context, "portal_catalog", None)
        if kept is not None and kept[0] is getattr(context, "babel_locale", None):
            return kept[1]
    translations = get_translations()
    context = g.get("_flask_babel")
    if context is not None:  # outside a request there is nothing to keep it on
        context.portal_catalog = (getattr(context, "babel_locale", None), translations)
    return translations


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the portal's locale selector."""
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
    )
    # Flask-Babel's own callables, each reading the catalog through `catalog()`.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: catalog().ugettext(s),
        ngettext=lambda s, p, n: catalog().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: catalog().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalog().unpgettext(c, s, p, n),
    )
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["colon"] = colon
    app.after_request(vary_by_language)
