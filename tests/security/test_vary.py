"""Caches are told what an answer's language came from: Accept-Language (Vary) unless the
visitor chose one, which lives in the session (Vary: Cookie)."""

from __future__ import annotations

import pytest

from portal.public import page_cache
from tests.security.world import World, get_routes, new_client


def varies_by(response) -> set[str]:
    """Return the request headers an answer says it varies by, in lower case."""
    return {name.lower() for name in response.headers.get("Vary", "").replace(",", " ").split()}


def test_every_page_in_the_browsers_language_varies_by_it(app, db, world: World):
    clients = {
        actor: new_client(app, world.users.get(actor))
        for actor in ("anonymous", "admin", "supervisor")
    }
    missing, pages = [], 0
    for actor, endpoint, path in get_routes(app, world):
        response = clients[actor].get(path)
        response.close()
        if response.mimetype == "text/html" and not 300 <= response.status_code < 400:
            pages += 1
            if "accept-language" not in varies_by(response):
                missing.append(f"{endpoint} {path} ({response.status_code})")
    assert not missing, "pages without Vary: Accept-Language:\n" + "\n".join(missing)
    assert pages > 50


def test_a_chosen_language_varies_by_the_session(app, db, world: World):
    client = new_client(app, language="en")
    response = client.get("/cases")
    assert 'lang="en"' in response.get_data(as_text=True)
    assert "cookie" in varies_by(response)


@pytest.mark.parametrize("app_config", [{"PAGE_CACHE_MB": 1}])
def test_kept_case_pages_vary_by_language(app, db, world: World):
    assert page_cache.LAYER in app.extensions
    path = f"/cases/{world.other_case.number}"  # open: its kept page has the "me too" form
    for language in ("zh-CN", "en"):
        rendered = app.test_client().get(path, headers={"Accept-Language": language})
        kept = app.test_client().get(path, headers={"Accept-Language": language})
        assert rendered.status_code == kept.status_code == 200
        assert "accept-language" in varies_by(rendered) and "accept-language" in varies_by(kept)
    english = app.test_client().get(path, headers={"Accept-Language": "en"})
    assert 'lang="en"' in english.get_data(as_text=True)
