"""Read-only CORS for public data: any web page may read it, nobody may write through it."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def allow_reads(response: Response) -> Response:
    """Let any origin read a GET, HEAD or OPTIONS answer; never a POST's, never with
    credentials (no cookie or key is read from another origin)."""
    if request.method in READ_METHODS:
        response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ", ".join(READ_METHODS)
            response.headers["Access-Control-Max-Age"] = "86400"
    return response
