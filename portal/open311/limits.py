"""Rate limits of the Open311 API: every answer per address, posted requests per API key."""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_limiter.util import get_remote_address

from portal.extensions import limiter


def api_key_of_request() -> str:
    """Key the limit on the API key a client sent (its digest), else on its address."""
    key = request.values.get("api_key", "")
    if not key:
        return get_remote_address()
    return "open311-key:" + hashlib.sha256(key.encode()).hexdigest()[:32]


per_address = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_OPEN311"], scope="open311-address"
)
per_key = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_OPEN311_KEY"],
    scope="open311-key",
    key_func=api_key_of_request,
)
