"""The viewer token rules that need no database: its shape, its limits, its filter."""

import uuid

import pytest
from pydantic import ValidationError

from src.audits.filters import EventFilter, fixed_filters
from src.auth.constants import Scope
from src.auth.schemas import Principal, ViewerGrant
from src.auth.service import resolve_tenant
from src.auth.viewer_tokens import parse_public_id
from src.viewer.schemas import ViewerTokenCreate

PUBLIC_ID = "0123456789abcdef"


@pytest.mark.parametrize(
    ("token", "public_id"),
    [
        (f"tmv_{PUBLIC_ID}_secret", PUBLIC_ID),
        (f"tm_{PUBLIC_ID}_secret", None),  # an API key, not a viewer token
        (f"tmv_{PUBLIC_ID}_", None),  # no secret
        ("tmv_0123_secret", None),  # a short public id
        ("tmv_0123456789ABCDEF_secret", None),  # hex is lower-case
        ("", None),
    ],
)
def test_the_public_id_of_a_token(token: str, public_id: str | None) -> None:
    assert parse_public_id(token) == public_id


@pytest.mark.parametrize("ttl", [60, 3600, 86_400])
def test_ttl_within_a_minute_and_a_day(ttl: int) -> None:
    assert ViewerTokenCreate.model_validate({"ttl_seconds": ttl}).ttl_seconds == ttl


@pytest.mark.parametrize(
    "body",
    [{"ttl_seconds": 59}, {"ttl_seconds": 86_401}, {"can_export": 1}, {"filter": {"scope": "x"}}],
)
def test_what_a_token_request_refuses(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ViewerTokenCreate.model_validate(body)


def test_the_fixed_filter_is_the_list_filters_and_q() -> None:
    request = ViewerTokenCreate.model_validate(
        {"filter": {"actor_id": "user_7", "q": "action_type:delete"}}
    )
    fields, search = request.filter.filters()
    assert fields.actor_id == "user_7"
    assert [kind.value for kind in search.action_types] == ["delete"]
    assert ViewerTokenCreate().filter.filters() == (EventFilter(),)  # no filter: every event


def test_a_viewer_principals_access_carries_its_filter() -> None:
    fixed = {"actor_id": "user_7", "q": "action_type:delete"}  # as minted, in JSON
    principal = Principal(
        key_id=uuid.uuid4(),
        tenant="acme",
        scopes=frozenset({Scope.AUDITS_READ}),
        viewer=ViewerGrant(filter=fixed, can_export=False),
    )
    access = resolve_tenant(principal, None)
    assert (access.tenant, access.visible, access.fixed) == ("acme", True, fixed)
    other = resolve_tenant(principal, "globex")
    assert (other.visible, other.fixed) == (False, fixed)
    assert not principal.allows(Scope.AUDITS_WRITE)
    # What every read of the token ANDs in: the fields, and its search parsed.
    fields, search = fixed_filters(access.fixed)
    assert fields == EventFilter(actor_id="user_7")
    assert [kind.value for kind in search.action_types] == ["delete"]
    assert fixed_filters(None) == ()  # an API key's access: nothing fixed
