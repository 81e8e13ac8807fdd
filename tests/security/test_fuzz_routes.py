"""Every GET route of the URL map, fed the values of tests/security/strategies.py in every
query parameter it reads (found by watching it read them) and in generic ones, and in its
path: each answer is a result (2xx, 3xx) or a refusal with a message (4xx), never a 5xx.

The public site, Open311 and the API are walked anonymously, the back office as an
administrator, the supervisors' pages as a supervisor. A new route is walked without a
change here; the summary of the run prints how many examples each route was sent.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule

from tests.security.strategies import (
    GENERIC_NAMES,
    examples_per_route,
    extreme_values,
    query_bytes,
)
from tests.security.world import WALK_SKIPS, World, concrete, new_client

# No shrinking: an example is one request per route, and a failure names its route and query
# exactly; shrinking a walk of forty routes took minutes.
EXAMPLES = settings(
    max_examples=40,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Parameters a route needs before the others matter (the map's box).
BASE_QUERY = {
    "/api/v1/cases.geojson": "bbox=120.1,30.2,120.2,30.3",
    "/api/v1/cases/nearby": "lat=30.2741&lng=120.1551&category=0101",
}
# Path arguments left as the world fills them: the static file and the any() formats.
FIXED_ARGUMENTS = {"filename", "fmt"}

# The query parameter names asked for during the current request.
_asked: ContextVar[set[str] | None] = ContextVar("asked", default=None)


def _note(key: object) -> None:
    asked = _asked.get()
    if asked is not None and isinstance(key, str):
        asked.add(key)


class WatchedDict(dict):
    """The query as a plain dict (to_dict()), noting the names looked up in it."""

    def get(self, key, default=None):
        _note(key)
        return super().get(key, default)

    def __getitem__(self, key):
        _note(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        _note(key)
        return super().__contains__(key)


class WatchedArgs(ImmutableMultiDict):
    """The query, noting every name a view, a form or a service asks it for."""

    def get(self, key, default=None, type=None):
        _note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        _note(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        _note(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        _note(key)
        return super().__contains__(key)

    def to_dict(self, flat=True):
        return WatchedDict(super().to_dict(flat))


def routes_of(app, blueprints: tuple[str, ...]) -> list[Rule]:
    """Return the GET rules of some blueprints, in a stable order."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and rule.endpoint not in WALK_SKIPS - {"public.switch_language"}
        and rule.endpoint.split(".")[0] in blueprints
    ]
    return sorted(rules, key=lambda rule: rule.endpoint)


def names_read(app, client, world: World, rules: list[Rule]) -> dict[str, tuple[str, ...]]:
    """Send each route one plain request and return the query names it read, with the
    generic ones."""
    original = app.request_class
    app.request_class = type(
        "WatchedRequest", (original,), {"parameter_storage_class": WatchedArgs}
    )
    names = {}
    try:
        for rule in rules:
            asked: set[str] = set()
            token = _asked.set(asked)
            try:
                path = concrete(rule, world)
                client.get(path, query_string=BASE_QUERY.get(path, "")).close()
            finally:
                _asked.reset(token)
            names[rule.endpoint] = tuple(sorted(asked | set(GENERIC_NAMES)))
    finally:
        app.request_class = original
    return names


def has_message(response, data: bytes) -> bool:
    """Tell whether a refusal says something to the person or program that sent it."""
    text = data.decode(errors="replace")
    if response.is_json:
        found = re.findall(r'"(?:message|description)":\s*"([^"]+)"', json.dumps(json.loads(data)))
        return bool(found)
    if response.mimetype in ("application/xml", "text/xml"):
        root = ElementTree.fromstring(data)  # noqa: S314 - our own answer
        return any((node.text or "").strip() for node in root.iter("description"))
    visible = re.sub(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", " ", text, flags=re.S)
    return len(re.sub(r"[\s\d]+", "", visible)) > 3


def one_request(rule: Rule, names: tuple[str, ...]) -> st.SearchStrategy:
    """Return a strategy of (path arguments to replace, query pairs, raw bytes or not)."""
    arguments = sorted(rule.arguments - FIXED_ARGUMENTS)
    in_path = (
        st.dictionaries(st.sampled_from(arguments), extreme_values, max_size=1)
        if arguments
        else st.just({})
    )
    pairs = st.lists(st.tuples(st.sampled_from(names), extreme_values), min_size=1, max_size=2)
    return st.tuples(in_path, pairs, st.booleans())


def walk(app, world: World, actor: str, blueprints: tuple[str, ...], data) -> None:
    """Send every route of some blueprints one drawn request, and check the answer."""
    client = new_client(app, world.users.get(actor))
    rules = routes_of(app, blueprints)
    names = app.extensions.setdefault("fuzz_names", {})
    if actor not in names:
        names[actor] = names_read(app, client, world, rules)
    for rule in rules:
        in_path, pairs, raw = data.draw(one_request(rule, names[actor][rule.endpoint]))
        replaced = {
            name: quote(value.encode("utf-8", "surrogatepass"), safe="")
            for name, value in in_path.items()
        }
        path = concrete(rule, world, **replaced) if replaced else concrete(rule, world)
        query = [q for q in [BASE_QUERY.get(path, "").encode()] if q]
        query += [query_bytes(name, value, raw) for name, value in pairs]
        where = f"{actor} GET {path}?{b'&'.join(query)!r}"
        response = client.get(
            path, environ_overrides={"QUERY_STRING": b"&".join(query).decode("latin-1")}
        )
        data_bytes = response.get_data()
        response.close()
        examples_per_route[f"{actor:<10} {rule.endpoint}"] += 1
        assert response.status_code < 500, f"{where}: {response.status_code}"
        if response.status_code >= 400:
            assert has_message(response, data_bytes), (
                f"{where}: {response.status_code} says nothing"
            )


@pytest.fixture
def app_config():
    """Keep no rendered pages: each request reaches its view."""
    return {"PAGE_CACHE_MB": 0}


@EXAMPLES
@given(data=st.data())
def test_public_open311_and_api_routes(app, db, world: World, data):
    walk(app, world, "anonymous", ("public", "auth", "open311", "api", "static"), data)


@EXAMPLES
@given(data=st.data())
def test_back_office_routes_as_an_administrator(app, db, world: World, data):
    walk(app, world, "admin", ("admin",), data)


@EXAMPLES
@given(data=st.data())
def test_supervisor_routes_as_a_supervisor(app, db, world: World, data):
    walk(app, world, "supervisor", ("supervisor",), data)
