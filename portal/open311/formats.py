"""Answers in the two formats of the spec: JSON, and XML written with ElementTree."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # nosec B405  # only writes XML, never parses any

from flask import Response, request

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
# The element name of each item of a list, by the list's name.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "media_urls": "media_url",
    "notes": "note",
    "errors": "error",
}

# Characters XML 1.0 cannot carry at all (not even escaped): shown as U+FFFD instead, so that
# a client's own control characters echoed in an error keep the document well-formed.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def fmt_of_path() -> str:
    """Tell which format a request asked for by its suffix (JSON unless .xml)."""
    return "xml" if request.path.endswith(".xml") else "json"


def _fill(element: ET.Element, value: object) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        for child in value:
            _fill(ET.SubElement(element, ITEMS.get(element.tag, "item")), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = NOT_XML.sub("\ufffd", str(value))


def to_xml(root: str, value: object) -> str:
    """Return a value as an XML document whose root element is named `root`."""
    element = ET.Element(root)
    _fill(element, value)
    return XML_DECLARATION + ET.tostring(element, encoding="unicode")


def answer(fmt: str, value: object, root: str, status: int = 200) -> Response:
    """Answer a value in the requested format; `root` names the XML wrapper."""
    if fmt == "xml":
        return Response(to_xml(root, value), status=status, content_type=XML_TYPE)
    body = json.dumps(value, ensure_ascii=False)
    return Response(body, status=status, content_type=JSON_TYPE)


def errors(fmt: str, status: int, descriptions: list[str]) -> Response:
    """Answer errors as the spec writes them, one per description."""
    listed = [{"code": status, "description": d} for d in descriptions]
    return answer(fmt, listed, "errors", status)
