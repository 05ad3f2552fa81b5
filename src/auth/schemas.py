"""Request and response models of the keys API, and the authenticated principal."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict, JsonValue

from src.auth.constants import TENANT_SLUG_PATTERN, Scope
from src.schemas import NO_NUL_PATTERN, UtcDatetime, with_examples

TenantSlug = Annotated[
    str,
    StringConstraints(pattern=TENANT_SLUG_PATTERN, max_length=63),
    Field(description="A tenant's slug: lower-case letters, digits and dashes.", examples=["acme"]),
]


@dataclass(frozen=True, slots=True)
class ViewerGrant:
    """What a viewer token adds to reading its tenant: the fixed filter every read is
    narrowed by, and whether it may export.

    The filter is kept as it was minted (the list filters of `GET /audits`, as JSON): the
    audits package reads it (`audits.filters.fixed_filters`); a credential knows no event.
    """

    filter: Mapping[str, JsonValue]
    can_export: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its tenant (None for admin) and its scopes; for a viewer
    token, the token's id and its grant."""

    key_id: uuid.UUID
    tenant: str | None
    scopes: frozenset[Scope]
    viewer: ViewerGrant | None = None

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def allows(self, scope: Scope) -> bool:
        return self.is_admin or scope in self.scopes


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """The tenant a request acts on, and whether its key may see that tenant at all.

    A tenant key that names another tenant is not told so: services treat `visible=False`
    exactly like an empty tenant (lists are empty, single resources are 404).
    """

    tenant: str
    visible: bool
    # A viewer token's fixed filter (as minted): every read sees only the events matching it.
    fixed: Mapping[str, JsonValue] | None = None


TENANT_SCOPES: list[JsonValue] = [
    Scope.AUDITS_WRITE.value,
    Scope.AUDITS_READ.value,
    Scope.AUDITS_ERASE.value,
]


def _key_create_schema(schema: JsonDict) -> None:
    # The validators below allow exactly two shapes; the schema says so, so that clients (and
    # the contract tests) can tell a valid tenant key or admin key before sending anything.
    schema["oneOf"] = [
        {
            "title": "Tenant key",
            "properties": {
                "tenant": {"type": "string", "pattern": TENANT_SLUG_PATTERN, "maxLength": 63},
                "scopes": {
                    "type": "array",
                    "items": {"enum": TENANT_SCOPES},
                    "minItems": 1,
                    "uniqueItems": True,
                },
            },
            "required": ["tenant", "scopes"],
        },
        {
            "title": "Admin key",
            "properties": {
                "tenant": {"type": "null"},
                "scopes": {
                    "type": "array",
                    "items": {"const": Scope.ADMIN.value},
                    "minItems": 1,
                    "maxItems": 1,
                },
            },
            "required": ["scopes"],
        },
    ]
    schema["examples"] = [
        {"tenant": "acme", "scopes": ["audits:write", "audits:read"], "name": "billing-service"},
        {"tenant": None, "scopes": ["admin"], "name": "ops"},
    ]


class KeyCreate(BaseModel):
    """What a new key may do, and for which tenant."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_key_create_schema)

    tenant: TenantSlug | None = Field(
        default=None, description="The tenant the key acts for; omit (null) for an admin key."
    )
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=4,
        description="What the key may do: tenant scopes, or `admin` alone.",
        json_schema_extra={"uniqueItems": True},
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NO_NUL_PATTERN,
        description="A label for people.",
    )

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        if len(set(scopes)) != len(scopes):
            raise ValueError("scopes must not repeat")
        return sorted(scopes)

    @model_validator(mode="after")
    def _admin_iff_no_tenant(self) -> "KeyCreate":
        if Scope.ADMIN in self.scopes:
            if self.tenant is not None:
                raise ValueError("an admin key acts on every tenant: omit `tenant`")
            if len(self.scopes) != 1:
                raise ValueError("`admin` implies every other scope: list it alone")
        elif self.tenant is None:
            raise ValueError("a key without `admin` must name its `tenant`")
        return self


class KeyOut(BaseModel):
    """An API key as listed: never its secret."""

    model_config = with_examples(
        {
            "id": "0193a1c2-7d1e-7c3a-9f4e-2b6d8a0c1e3f",
            "prefix": "tm_k7d2q9x4m1p8",
            "tenant": "acme",
            "scopes": ["audits:read", "audits:write"],
            "name": "billing-service",
            "created_at": "2026-11-21T09:30:00Z",
            "last_used_at": "2026-11-21T10:02:11Z",
            "revoked_at": None,
        },
        from_attributes=True,
    )

    id: uuid.UUID = Field(description="The key's id, for revocation.")
    prefix: str = Field(description="The key's public start, to recognise it (`tm_<public id>`).")
    tenant: str | None = Field(description="Its tenant; null for an admin key.")
    scopes: list[Scope] = Field(description="What it may do.")
    name: str | None = Field(description="Its label.")
    created_at: UtcDatetime = Field(description="When it was made.")
    last_used_at: UtcDatetime | None = Field(
        description="When it last authenticated a request (to the minute)."
    )
    revoked_at: UtcDatetime | None = Field(description="When it was revoked, if it was.")


class KeyCreated(BaseModel):
    """A new key, with its secret: shown this once, stored only as a hash."""

    model_config = with_examples(
        {
            "id": "0193a1c2-7d1e-7c3a-9f4e-2b6d8a0c1e3f",
            "key": "tm_k7d2q9x4m1p8_V2hhdCBhIGxvdmVseSBzZWNyZXQgdGhpcyBpcyE",
            "prefix": "tm_k7d2q9x4m1p8",
            "tenant": "acme",
            "scopes": ["audits:read", "audits:write"],
            "name": "billing-service",
            "created_at": "2026-11-21T09:30:00Z",
        }
    )

    id: uuid.UUID = Field(description="The key's id, for revocation.")
    key: str = Field(description="The secret key. It is never shown again: store it now.")
    prefix: str = Field(description="The key's public start (`tm_<public id>`).")
    tenant: str | None = Field(description="Its tenant; null for an admin key.")
    scopes: list[Scope] = Field(description="What it may do.")
    name: str | None = Field(description="Its label.")
    created_at: UtcDatetime = Field(description="When it was made.")
