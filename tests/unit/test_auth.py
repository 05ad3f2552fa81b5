"""Pure pieces of authentication: key format, hashing, tenant resolution, principals."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.auth.constants import Scope
from src.auth.exceptions import TenantRequired
from src.auth.schemas import Principal, TenantAccess
from src.auth.service import hash_key, mint_key, parse_public_id, resolve_tenant


def test_minted_keys_are_long_random_and_parseable() -> None:
    keys = {mint_key().secret_key for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("tm_")
        secret = key.split("_", 2)[2]
        assert len(secret) >= 43  # 32 bytes of base64url: 256 bits
        assert parse_public_id(key) == key.split("_")[1]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "tm_",
        "tm__secret",
        "sk_0123456789abcdef_secret",
        "tm_0123456789abcde_secret",  # 15 chars
        "tm_0123456789abcdefa_secret",  # 17 chars
        "tm_0123456789ABCDEF_secret",  # upper case
        "tm_0123456789abcdef_",
        "tm_0123456789abcdef",
    ],
)
def test_malformed_keys_have_no_public_id(key: str) -> None:
    assert parse_public_id(key) is None


@given(st.text(max_size=200))
def test_parsing_never_raises(key: str) -> None:
    result = parse_public_id(key)
    assert result is None or (len(result) == 16 and key.startswith(f"tm_{result}_"))


def test_hash_is_keyed_by_the_pepper() -> None:
    key = mint_key().secret_key
    assert hash_key(key, b"one") == hash_key(key, b"one")
    assert hash_key(key, b"one") != hash_key(key, b"two")
    assert len(hash_key(key, b"one")) == 32


def _principal(tenant: str | None, *scopes: Scope) -> Principal:
    return Principal(key_id=uuid.uuid4(), tenant=tenant, scopes=frozenset(scopes))


def test_admin_holds_every_scope() -> None:
    admin = _principal(None, Scope.ADMIN)
    assert all(admin.allows(scope) for scope in Scope)
    reader = _principal("acme", Scope.AUDITS_READ)
    assert reader.allows(Scope.AUDITS_READ)
    assert not reader.allows(Scope.AUDITS_WRITE)
    assert not reader.allows(Scope.ADMIN)


def test_admin_must_name_the_tenant() -> None:
    with pytest.raises(TenantRequired):
        resolve_tenant(_principal(None, Scope.ADMIN), None)
    assert resolve_tenant(_principal(None, Scope.ADMIN), "globex") == TenantAccess("globex", True)


def test_tenant_key_sees_its_own_tenant_only() -> None:
    acme = _principal("acme", Scope.AUDITS_READ)
    assert resolve_tenant(acme, None) == TenantAccess("acme", True)
    assert resolve_tenant(acme, "acme") == TenantAccess("acme", True)
    assert resolve_tenant(acme, "globex") == TenantAccess("globex", False)
