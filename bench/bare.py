"""The reference for pages served over HTTP: a bare Flask app returning a fixed string.

bench/web.py serves it with the same gunicorn settings as the portal: gunicorn bench.bare:app.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.route("/")
def fixed() -> str:
    """Answer with the same short page every time."""
    return "<!doctype html><title>bare</title><p>Hello.</p>"
