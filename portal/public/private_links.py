"""Private links just made (a comment's, a suggestion's), kept in the session to show once."""

from __future__ import annotations

from flask import session

KEPT_IN_SESSION = 10


def remember(kind: str, object_id: int, token: str) -> None:
    """Keep the private token of something the visitor just sent."""
    key = f"{kind}_tokens"
    kept = [t for t in session.get(key, []) if t[0] != object_id]
    session[key] = [[object_id, token], *kept][:KEPT_IN_SESSION]


def recall(kind: str, object_id: int) -> str | None:
    """Return the private token of something this visitor sent, if it is theirs."""
    return dict(session.get(f"{kind}_tokens", [])).get(object_id)
