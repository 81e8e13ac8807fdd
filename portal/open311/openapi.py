"""The OpenAPI 3 description of the Open311 API, served at /open311/v2/openapi.json."""

from __future__ import annotations

from flask import jsonify
from werkzeug.wrappers import Response

from portal.open311 import bp
from portal.open311.limits import per_address

FORMAT = {
    "name": "format",
    "in": "path",
    "required": True,
    "description": "json or xml",
    "schema": {"type": "string", "enum": ["json", "xml"]},
}
NULLABLE_TEXT = {"type": "string", "nullable": True}
MOMENT = {"type": "string", "format": "date-time"}
ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": NULLABLE_TEXT,
        "metadata": {"type": "boolean"},
        "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
        "keywords": NULLABLE_TEXT,
        "group": NULLABLE_TEXT,
    },
}
ATTRIBUTE = {
    "type": "object",
    "required": ["variable", "code", "datatype", "required"],
    "properties": {
        "variable": {"type": "boolean"},
        "code": {"type": "string"},
        "datatype": {
            "type": "string",
            "enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"],
        },
        "required": {"type": "boolean"},
        "datatype_description": NULLABLE_TEXT,
        "order": {"type": "integer"},
        "description": NULLABLE_TEXT,
        "values": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "name"],
                "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": NULLABLE_TEXT,
        "service_name": NULLABLE_TEXT,
        "service_code": {"type": "string"},
        "description": NULLABLE_TEXT,
        "agency_responsible": NULLABLE_TEXT,
        "service_notice": NULLABLE_TEXT,
        "requested_datetime": MOMENT,
        "updated_datetime": {**MOMENT, "nullable": True},
        "expected_datetime": {**MOMENT, "nullable": True},
        "address": NULLABLE_TEXT,
        "address_id": NULLABLE_TEXT,
        "zipcode": NULLABLE_TEXT,
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "media_url": {"type": "string", "format": "uri", "nullable": True},
        "attributes": {"type": "array", "description": "With extensions=true."},
        "media_urls": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "notes": {"type": "array", "description": "With extensions=true: public notes."},
    },
}
POSTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id"],
        "properties": {
            "service_request_id": {"type": "string"},
            "service_notice": NULLABLE_TEXT,
            "account_id": NULLABLE_TEXT,
        },
    },
}
TOKEN = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}},
    },
}
# The updates extension, in the statuses FixMyStreet understands: our state → its status
# (external_status_code carries our state itself).
STATUS_MAPPING = (
    "submitted → open; accepted → investigating; dispatched → action_scheduled; "
    "in_progress → in_progress; resolved → fixed; closed → closed; "
    "rejected → not_councils_responsibility (not this office's responsibility) or "
    "no_further_action (not valid, or nothing to be done); "
    "duplicate → duplicate, with duplicate_of naming the case it was merged into."
)
UPDATE = {
    "type": "object",
    "required": [
        "update_id",
        "service_request_id",
        "status",
        "external_status_code",
        "updated_datetime",
    ],
    "properties": {
        "update_id": {"type": "string"},
        "service_request_id": {"type": "string"},
        "status": {
            "type": "string",
            "description": STATUS_MAPPING,
            "enum": [
                "open",
                "investigating",
                "action_scheduled",
                "in_progress",
                "fixed",
                "closed",
                "not_councils_responsibility",
                "no_further_action",
                "duplicate",
            ],
        },
        "external_status_code": {
            "type": "string",
            "description": "The portal's own state of the case after this update.",
            "enum": [
                "submitted",
                "accepted",
                "dispatched",
                "in_progress",
                "resolved",
                "closed",
                "rejected",
                "duplicate",
            ],
        },
        "duplicate_of": {"type": "string", "description": "With duplicate: the case kept."},
        "updated_datetime": MOMENT,
        "description": {"type": "string"},
        "media_url": {"type": "string", "format": "uri", "nullable": True},
    },
}
UPDATE_FIELDS = {
    "api_key": {"type": "string"},
    "jurisdiction_id": {"type": "string"},
    "service_request_id": {"type": "string", "description": "The case number."},
    "update_id": {
        "type": "string",
        "maxLength": 255,
        "description": "The sender's id: posted again, the update is stored once.",
    },
    "status": {
        "type": "string",
        "description": "OPEN or REOPEN on a resolved or closed case asks to reopen it, by "
        "the resident's own rules (resolved, or closed within 7 days; once; by the system "
        "that posted the case; the comment is the reason); refused, the comment is still "
        "stored. Other values are recorded.",
    },
    "updated_datetime": {"type": "string", "description": "W3C date-time, kept for reference."},
    "description": {"type": "string", "description": "The comment, stored as plain text."},
    "first_name": {"type": "string", "description": "Not stored."},
    "last_name": {"type": "string", "description": "Not stored."},
    "email": {"type": "string", "description": "Not stored."},
    "phone": {"type": "string", "description": "Not stored."},
    "account_id": {"type": "string", "description": "Not stored."},
    "media_url": {"type": "string", "description": "Not fetched."},
}
UPDATE_POSTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["update_id"],
        "properties": {"update_id": {"type": "string"}},
    },
}


def _update_post() -> dict:
    """Describe POST servicerequestupdates: 201 stored, 200 already stored before."""
    responses = _answers(UPDATE_POSTED, "201")
    responses["200"] = {**responses["201"], "description": "Already stored (same update_id)"}
    form = {"schema": {"type": "object", "properties": UPDATE_FIELDS}}
    return {
        "summary": "Post a citizen's update on a service request (needs api_key)",
        "parameters": [FORMAT],
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": form, "multipart/form-data": form},
        },
        "responses": responses,
    }


DISCOVERY = {
    "type": "object",
    "required": ["changeset", "endpoints"],
    "properties": {
        "changeset": MOMENT,
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {"type": "array"},
    },
}
POST_FIELDS = {
    "api_key": {"type": "string"},
    "jurisdiction_id": {"type": "string", "description": "Optional unless several are served."},
    "service_code": {"type": "string", "description": "An unknown one answers 404."},
    "lat": {"type": "string", "description": "WGS-84 latitude, with long."},
    "long": {"type": "string", "description": "WGS-84 longitude, with lat."},
    "address_string": {
        "type": "string",
        "description": "Geocoded, or a zone it names; kept as plain text, at most 255 characters.",
    },
    "address_id": {"type": "string"},
    "description": {
        "type": "string",
        "description": "Optional. Plain text (markup is kept as typed and escaped wherever it is "
        "shown); longer than the spec's 4000 characters is kept whole.",
    },
    "email": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "device_id": {"type": "string", "description": "Also read as deviceid; at most 100."},
    "account_id": {"type": "string"},
    "media_url": {
        "type": "string",
        "description": "May repeat. Fetched only from the allowed hosts; from any other host "
        "kept as a link for staff, never fetched and never refused.",
    },
}
INTAKE = (
    "Only what the sender can fix is refused: no service_code (400), an unknown one (404), "
    "no usable place (400), a bad api_key (403), a broken uploaded photo (400). An answer that "
    "fails its datatype, a missing required answer or photo, and contact details that fail "
    "their check are accepted and flagged for staff. attribute[code] may repeat for a "
    "multivaluelist; files may come as media or photo1, photo2 ..."
)
PAGED = (
    "An answer cut at page_size carries a header Link: <PUBLIC_URL/...&page=N+1>; "
    'rel="next" with the same arguments; none on the last page.'
)
NEXT_LINK = {
    "Link": {
        "description": 'rel="next": the next page, when this answer was cut at page_size.',
        "schema": {"type": "string"},
    }
}
CORS = {
    "Access-Control-Allow-Origin": {
        "description": "* on GET, HEAD and OPTIONS (never on POST, never with credentials).",
        "schema": {"type": "string"},
    }
}
JURISDICTION = {
    "name": "jurisdiction_id",
    "in": "query",
    "required": False,
    "description": "One of the ids the endpoint serves: optional when it serves one; an "
    "unknown id answers 404.",
    "schema": {"type": "string"},
}
PAGING = (
    {
        "name": "page",
        "in": "query",
        "required": False,
        "description": "Page number, from 1.",
        "schema": {"type": "string"},
    },
    {
        "name": "page_size",
        "in": "query",
        "required": False,
        "description": "Items per page, 1 to 1000 (default 1000).",
        "schema": {"type": "string"},
    },
)


def _param(name: str, description: str, where: str = "query") -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": {"type": "string"},
    }


def _answers(ok: dict, status: str = "200") -> dict:
    """Return the responses of an operation: its success and the spec's errors."""
    responses = {
        status: {
            "description": "Success",
            "content": {"application/json": {"schema": ok}, "text/xml": {"schema": {}}},
            "headers": {**NEXT_LINK, **CORS} if status == "200" else {},
        }
    }
    for code, why in (
        ("400", "A wrong argument, one error each"),
        ("403", "A missing or wrong api_key"),
        ("404", "No such service or request"),
        ("429", "Too many requests; see Retry-After"),
    ):
        responses[code] = {
            "description": why,
            "content": {"application/json": {"schema": ERRORS}, "text/xml": {"schema": {}}},
        }
    return responses


def _get(summary: str, ok: dict, *params: dict) -> dict:
    parameters = [FORMAT, *params, JURISDICTION]
    return {"get": {"summary": summary, "parameters": parameters, "responses": _answers(ok)}}


def _list(item: dict) -> dict:
    return {"type": "array", "items": item}


DATES = (
    _param("start_date", "W3C date-time; the window spans at most 90 days."),
    _param("end_date", "W3C date-time; the window spans at most 90 days."),
)


def description() -> dict:
    """Return the OpenAPI document of the Open311 endpoints."""
    requests_path = _get(
        "List service requests",
        _list(REQUEST),
        _param("service_request_id", "Comma list; overrides the other filters."),
        _param("service_code", "Comma list."),
        _param("status", "open, closed, or both, comma separated."),
        *DATES,
        *PAGING,
        _param("extensions", "true adds attributes, photos and public notes."),
    )
    requests_path["get"]["description"] = PAGED
    requests_path["post"] = {
        "summary": "Post a service request (needs api_key)",
        "description": INTAKE,
        "parameters": [FORMAT],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": POST_FIELDS}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            **POST_FIELDS,
                            "media": {"type": "string", "format": "binary"},
                        },
                    }
                },
            },
        },
        "responses": _answers(POSTED, "201"),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Open311 GeoReport v2",
            "version": "2",
            "description": "The portal's categories as services; cases as service requests.",
        },
        "servers": [{"url": "/open311/v2"}],
        "paths": {
            "/discovery.{format}": _get("Describe this endpoint", DISCOVERY),
            "/services.{format}": _get("List the services", _list(SERVICE)),
            "/services/{service_code}.{format}": _get(
                "Describe a service's attributes",
                {
                    "type": "object",
                    "required": ["service_code", "attributes"],
                    "properties": {
                        "service_code": {"type": "string"},
                        "attributes": _list(ATTRIBUTE),
                    },
                },
                _param("service_code", "The service's code", "path"),
            ),
            "/requests.{format}": requests_path,
            "/requests/{service_request_id}.{format}": _get(
                "Show one service request (as a list)",
                _list(REQUEST),
                _param("service_request_id", "The case number", "path"),
                _param("extensions", "true adds attributes, photos and public notes."),
            ),
            "/tokens/{token}.{format}": _get(
                "Resolve a token (the case number the POST answered)",
                TOKEN,
                _param("token", "The token", "path"),
            ),
            "/servicerequestupdates.{format}": _get(
                "List the public updates of service requests", _list(UPDATE), *DATES, *PAGING
            )
            | {"post": _update_post()},
        },
    }


@bp.route("/openapi.json")
@per_address
def openapi() -> Response:
    """Serve the OpenAPI description of this API."""
    return jsonify(description())
