"""Open311 fixtures: the official JSON schemas, an API key, and answer checkers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from portal.models import utcnow
from portal.services import apikeys

# A copy kept in the repository (source and licence in its README), so a clone alone tests.
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILES = (
    "request.json",
    "requests.json",
    "service.json",
    "services.json",
    "service-definition.json",
)
BASE = "/open311/v2"


def _load_schemas() -> dict[str, dict]:
    missing = [name for name in SCHEMA_FILES if not (SCHEMAS / name).is_file()]
    if missing:
        pytest.fail(
            f"The official Open311 schemas are missing from {SCHEMAS.resolve()}: "
            f"{', '.join(missing)}. See tests/open311/schemas/README.md for where they come from.",
            pytrace=False,
        )
    return {name: json.loads((SCHEMAS / name).read_text()) for name in SCHEMA_FILES}


@pytest.fixture(scope="session")
def schemas() -> dict[str, dict]:
    """Return the official schemas by file name."""
    return _load_schemas()


@pytest.fixture(scope="session")
def conforms(schemas):
    """Return a function that validates an answer against an official schema (draft 4,
    with the date-time and uri formats really checked)."""
    registry = Registry().with_resources(
        (name, Resource.from_contents(schema, default_specification=DRAFT4))
        for name, schema in schemas.items()
    )
    checker = FormatChecker()

    def validate(name: str, instance: object) -> None:
        Draft4Validator(schemas[name], registry=registry, format_checker=checker).validate(instance)

    return validate


@pytest.fixture
def api_key(db, reference) -> str:
    """Return a live API key of a system named FixMyStreet."""
    _row, key = apikeys.create(db.session, "FixMyStreet", utcnow())
    db.session.commit()
    return key


def xml_of(response) -> ET.Element:
    """Parse an XML answer after checking its content type and declaration."""
    assert response.content_type == "text/xml; charset=utf-8"
    body = response.get_data(as_text=True)
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.get_data())  # noqa: S314 - the portal's own answer


def json_of(response) -> object:
    """Read a JSON answer after checking its content type."""
    assert response.content_type == "application/json; charset=utf-8"
    return response.get_json()


def errors_in(response, fmt: str) -> list[tuple[int, str]]:
    """Return the (code, description) pairs of an error answer in either format."""
    if fmt == "xml":
        root = xml_of(response)
        assert root.tag == "errors"
        assert all(e.tag == "error" for e in root)
        return [(int(e.findtext("code")), e.findtext("description")) for e in root]
    return [(e["code"], e["description"]) for e in json_of(response)]
