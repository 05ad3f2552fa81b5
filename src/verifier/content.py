"""An event's committed content: the exact bytes its digest and its Merkle leaf are made of.

    leaf data     = canonical JSON (RFC 8785) of the committed content
    digest(event) = SHA-256(leaf data)              (the hash chain)
    leaf hash     = SHA-256(0x00 || leaf data)      (the transparency log, RFC 9162)

The committed content is every field the client sent plus tenant, seq, id and received_at.
Erasable fields (actor name, IP address, user agent, details) enter only as SHA-256(salt ||
value) with a random per-event salt, so a leaf never holds personal data and erasure, which
destroys the salt and the values, changes no leaf.

The server writes leaves with this module and an offline verifier rebuilds them from an
event as the API shows it: one implementation of the encoding.
"""

import functools
import hashlib
import ipaddress
import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring  # the C escaper json.dumps uses

CONTENT_VERSION = 1
ERASABLE_FIELDS = ("actor_name", "ip_address", "user_agent", "details")

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value.

    One extension: integers beyond +-2**53 are written as their exact digits (RFC 8785 covers
    only numbers an IEEE double holds exactly; PostgreSQL's jsonb keeps larger ones exactly).
    """
    if type(value) is dict and all(
        type(name) is str and name.isascii() and type(item) in _FLAT_VALUE_TYPES
        for name, item in value.items()
    ):
        # The common `details`: a flat object with ASCII names and no floats. For it sorted
        # keys, no white space and raw UTF-8 is exactly RFC 8785 (non-ASCII names would sort
        # differently, by UTF-16 units), and the C encoder is many times faster than _jcs.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return _jcs(value).encode()


_FLAT_VALUE_TYPES = frozenset({str, int, bool, type(None)})


def _jcs(value: object) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_jcs(item) for item in value) + "]"
    if isinstance(value, Mapping):
        # Members sorted by the UTF-16 code units of their names, as RFC 8785 says.
        members = sorted(value.items(), key=lambda item: str(item[0]).encode("utf-16-be"))
        return "{" + ",".join(f"{_jcs(str(name))}:{_jcs(item)}" for name, item in members) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def es_number(value: float) -> str:
    """A double as ECMAScript's Number.prototype.toString writes it (RFC 8785 section 3.2.2.3).

    `repr` gives the same shortest round-tripping digits; only the layout differs.
    """
    if not math.isfinite(value):
        raise ValueError("NaN and infinities are not JSON numbers")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    stripped = digits.lstrip("0")
    # value = 0.<digits> x 10**point
    point = len(whole) + (int(exponent) if exponent else 0) - (len(digits) - len(stripped))
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    scaled = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{scaled}e{'+' if power > 0 else '-'}{abs(power)}"


def salted_sha256(salt: bytes, value: bytes) -> str:
    """SHA-256(salt || value), lower-case hex: how an erasable field is committed."""
    return hashlib.sha256(salt + value).hexdigest()


@functools.lru_cache(maxsize=4096)  # addresses repeat; parsing one is the slow part
def _address(text: str) -> bytes:
    """The IP address in its compressed form (Python's `ipaddress`), UTF-8."""
    return str(ipaddress.ip_address(text)).encode()


def erasable_hashes(
    salt: bytes,
    *,
    actor_name: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    details: Mapping[str, object] | None = None,
) -> dict[str, str | None]:
    """SHA-256(salt || value) per erasable field, lower-case hex; None where there is no value.

    Text as UTF-8, the IP address in its compressed form (Python's `ipaddress`), `details`
    as canonical JSON.
    """
    return {
        "actor_name": None if actor_name is None else salted_sha256(salt, actor_name.encode()),
        "ip_address": None if ip_address is None else salted_sha256(salt, _address(ip_address)),
        "user_agent": None if user_agent is None else salted_sha256(salt, user_agent.encode()),
        "details": None if details is None else salted_sha256(salt, canonical_json(details)),
    }


# The committed content's members in RFC 8785 order (their names are ASCII, so sorted by code
# unit is sorted by character), each `%s` a JSON value. Writing the object out this way gives
# the same bytes as encoding a dict of it with sorted keys, several times faster: ingest,
# verification and bundle checks encode every event through here. A property test holds it to
# `rfc8785` and to the dict form.
_CONTENT_TEMPLATE = (
    '{"action":%s,"action_type":%s,"actor_id":%s,"actor_name_sha256":%s,"actor_type":%s,'
    '"details_sha256":%s,"entity_id":%s,"entity_type":%s,"id":%s,"ip_address_sha256":%s,'
    '"occurred_at":%s,"received_at":%s,"request_id":%s,"seq":%d,"status":%s,"tenant":%s,'
    '"user_agent_sha256":%s,"v":' + str(CONTENT_VERSION) + "}"
)


def _json_value(value: object) -> str:  # str or None as stored; anything once tampered with
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring(value)
    # Only a row edited in the database (or a forged bundle) gets here, say a number among the
    # hashes: it is encoded as the dict form would be, and cannot match the original bytes.
    return canonical_json(value).decode()


def committed_content(
    *,
    tenant: str,
    seq: int,
    id: str,
    received_at: str,
    action_type: str,
    action: str | None,
    entity_type: str,
    entity_id: str,
    actor_id: str | None,
    actor_type: str | None,
    status: str,
    occurred_at: str,
    request_id: str | None,
    hashes: Mapping[str, object],
) -> bytes:
    """The leaf data: canonical JSON of the committed content (timestamps as the API shows
    them; `status` as first recorded; `hashes` of the erasable fields by field name)."""
    return (
        _CONTENT_TEMPLATE
        % (
            _json_value(action),
            _json_value(action_type),
            _json_value(actor_id),
            _json_value(hashes.get("actor_name")),
            _json_value(actor_type),
            _json_value(hashes.get("details")),
            _json_value(entity_id),
            _json_value(entity_type),
            _json_value(id),
            _json_value(hashes.get("ip_address")),
            _json_value(occurred_at),
            _json_value(received_at),
            _json_value(request_id),
            seq,
            _json_value(status),
            _json_value(tenant),
            _json_value(hashes.get("user_agent")),
        )
    ).encode()


def committed_hashes(leaf_data: bytes) -> dict[str, object]:
    """The erasable fields' hashes a leaf commits to (an erased event shows no values)."""
    content = json.loads(leaf_data)
    if not isinstance(content, dict):
        raise ValueError("leaf data is not a JSON object")
    return {field: content.get(f"{field}_sha256") for field in ERASABLE_FIELDS}


class EventMismatch(ValueError):
    """An event as shown does not match the content it committed to."""


def _text(event: Mapping[str, object], name: str) -> str | None:
    value = event.get(name)
    if value is None or isinstance(value, str):
        return value
    raise EventMismatch(f"`{name}` is not a string")


def _required(event: Mapping[str, object], name: str) -> str:
    value = _text(event, name)
    if value is None:
        raise EventMismatch(f"`{name}` is missing")
    return value


def leaf_of_event(event: Mapping[str, object], salt: bytes | None, leaf_data: bytes) -> bytes:
    """The leaf data an event as the API shows it commits to, rebuilt from its visible fields.

    With the event's salt the erasable fields are rehashed from their values; an erased
    event (no salt, no values) takes its hashes from `leaf_data`, so every other field is
    still checked. Raises EventMismatch when the event cannot be rebuilt at all.
    """
    actor = event.get("actor")
    if actor is not None and not isinstance(actor, Mapping):
        raise EventMismatch("`actor` is not an object")
    actor = actor or {}
    seq = event.get("seq")
    if type(seq) is not int:
        raise EventMismatch("`seq` is not an integer")
    hashes: Mapping[str, object]
    if salt is None:
        if event.get("erased_at") is None:
            raise EventMismatch("the salt is missing but the event is not erased")
        shown = [
            actor.get("name"),
            *(event.get(f) for f in ("ip_address", "user_agent", "details")),
        ]
        if any(value is not None for value in shown):
            # Erasure destroys the values with the salt: any value shown is not the original.
            raise EventMismatch("an erased event shows personal data it no longer has")
        hashes = committed_hashes(leaf_data)
    else:
        if event.get("erased_at") is not None:
            raise EventMismatch("an erased event has no salt left")
        details = event.get("details")
        if details is not None and not isinstance(details, Mapping):
            raise EventMismatch("`details` is not an object")
        try:
            hashes = erasable_hashes(
                salt,
                actor_name=_text(actor, "name"),
                ip_address=_text(event, "ip_address"),
                user_agent=_text(event, "user_agent"),
                details=details,
            )
        except ValueError as error:  # an IP address that is none
            raise EventMismatch(str(error)) from None
    # Only a pending event changes status, once, to success or failure; it was committed as
    # pending.
    status = _required(event, "status")
    if event.get("status_changed_at") is not None:
        if status not in ("success", "failure"):
            raise EventMismatch("a settled event must show `success` or `failure`")
        status = "pending"
    return committed_content(
        tenant=_required(event, "tenant"),
        seq=seq,
        id=_required(event, "id"),
        received_at=_required(event, "received_at"),
        action_type=_required(event, "action_type"),
        action=_text(event, "action"),
        entity_type=_required(event, "entity_type"),
        entity_id=_required(event, "entity_id"),
        actor_id=_text(actor, "id"),
        actor_type=_text(actor, "type"),
        status=status,
        occurred_at=_required(event, "occurred_at"),
        request_id=_text(event, "request_id"),
        hashes=hashes,
    )
