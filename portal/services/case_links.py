"""The ways back to a case: the reporter's private link as mails carry it, the query code
(查询码) that opens it from any device, and a follower's one-click unsubscribe link.

Only the hash of the tracking token is stored, so a mail written later cannot carry the link
shown at submission. It carries a signed one instead: the case id and the first characters of
the token's hash, signed with SECRET_KEY. It does not expire, opens the same private page, and
dies with the token: a new token (a new hash) revokes every signed link of the case. A new
SECRET_KEY revokes them all, unless the old key stays in SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseFollower
from portal.web import public_url_for

PRIVATE_SALT = "case-private-link"
UNSUBSCRIBE_SALT = "case-follower-unsubscribe"
QUERY_CODE_DIGITS = 6
# Enough of the token's hash to tie a link to this token; the signature does the rest.
HASH_PREFIX = 16
MAX_LINK_LENGTH = 100


def _keys() -> list[str | bytes]:
    """Return the signing keys, the current one last (itsdangerous signs with the last)."""
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS") or []
    return [*reversed(fallbacks), current_app.config["SECRET_KEY"]]


def _signer(salt: str) -> Signer:
    return Signer(_keys(), salt=salt, digest_method=hashlib.sha256)


def signed_token(salt: str, record_id: int, token_hash: str) -> str:
    """Return the signed stand-in of a record's private token (a case's, a suggestion's)."""
    return _signer(salt).sign(f"{record_id}.{token_hash[:HASH_PREFIX]}").decode()


def signed_record(salt: str, token: str) -> tuple[int, str] | None:
    """Return the record id and token-hash prefix a signed token names, or None if forged;
    the caller checks the prefix against the record's hash (a new token revokes the link)."""
    if not token or len(token) > MAX_LINK_LENGTH:
        return None
    try:
        payload = _signer(salt).unsign(token).decode()
    except BadSignature:
        return None
    record_id, _, prefix = payload.partition(".")
    if not record_id.isdigit() or len(record_id) > 10:
        return None
    return int(record_id), prefix


def holds_prefix(token_hash: str, prefix: str) -> bool:
    """Tell whether a signed token's prefix is that of the record's current token hash."""
    return hmac.compare_digest(token_hash[:HASH_PREFIX].encode(), prefix.encode())


def private_token(case: Case) -> str:
    """Return the signed stand-in of a case's private token, for links in mails."""
    return signed_token(PRIVATE_SALT, case.id, case.tracking_token_hash)


def is_signed_link(token: str) -> bool:
    """Tell whether a /track token is a signed link (raw tokens never hold a dot)."""
    return "." in token


def case_of_private_token(session: Session, token: str) -> Case | None:
    """Return the case a signed private link opens, or None if forged or revoked."""
    found = signed_record(PRIVATE_SALT, token)
    if found is None:
        return None
    case = session.get(Case, found[0])
    if case is None or not holds_prefix(case.tracking_token_hash, found[1]):
        return None
    return case


def private_url(case: Case, anchor: str = "") -> str:
    """Return the absolute private link of a case, to the anchor of the action asked."""
    url = public_url_for("public.track", token=private_token(case))
    return f"{url}#{anchor}" if anchor else url


def query_code(token: str) -> str:
    """Return the query code that goes with a private token (the same one every time)."""
    # Derived from the token, so the confirmation page can show it again from the session;
    # it reveals nothing of the token's other 170 bits.
    digest = hashlib.sha256(b"query-code:" + token.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**QUERY_CODE_DIGITS:0{QUERY_CODE_DIGITS}d}"


def _code_hash(key: str | bytes, number: str, code: str) -> str:
    # Keyed: a million codes are quickly tried against a plain hash from a stolen database.
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, f"{number}:{code}".encode(), hashlib.sha256).hexdigest()


def set_query_code(case: Case, token: str) -> str:
    """Give a new case the query code of its token; store only its keyed hash; return it."""
    code = query_code(token)
    case.query_code_hash = _code_hash(current_app.config["SECRET_KEY"], case.number, code)
    return code


def normalize_code(code: str) -> str:
    """Return a typed query code without spaces, full-width digits made plain."""
    return "".join(code.split()).translate(str.maketrans("０１２３４５６７８９", "0123456789"))


def case_of_query_code(session: Session, number: str, code: str) -> Case | None:
    """Return the case a number and query code open, or None, taking as long either way."""
    number, code = number.strip(), normalize_code(code)
    case = session.scalar(select(Case).where(Case.number == number[:20]))
    stored = case.query_code_hash if case is not None else ""
    # Compared even without a case, so the answer's timing does not tell a case exists.
    matched = False
    for key in _keys():
        candidate = _code_hash(key, number, code)
        matched |= hmac.compare_digest(candidate, stored or "0" * 64)
    ok = case is not None and bool(stored) and matched and code.isdigit()
    return case if ok else None


def unsubscribe_token(follower: CaseFollower) -> str:
    """Return the signed token of a follower's unsubscribe link."""
    return _signer(UNSUBSCRIBE_SALT).sign(str(follower.id)).decode()


def unsubscribe_url(follower: CaseFollower) -> str:
    """Return the absolute one-click unsubscribe link of a follower."""
    return public_url_for("public.unsubscribe", token=unsubscribe_token(follower))


def follower_of_unsubscribe(session: Session, token: str) -> CaseFollower | None:
    """Return the follower an unsubscribe link stands for, or None if forged."""
    if not token or len(token) > MAX_LINK_LENGTH:
        return None
    try:
        follower_id = _signer(UNSUBSCRIBE_SALT).unsign(token).decode()
    except BadSignature:
        return None
    if not follower_id.isdigit() or len(follower_id) > 10:
        return None
    return session.get(CaseFollower, int(follower_id))


def unsubscribe(follower: CaseFollower) -> None:
    """Stop a follower's mail: their address is dropped, their "me too" still counts."""
    follower.email = ""
