from enum import StrEnum

KEY_PREFIX = "tm_"
VIEWER_TOKEN_PREFIX = "tmv_"  # noqa: S105 - a prefix, not a secret
TENANT_SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# `last_used_at` is written at most this often per key, so reads do not become writes.
LAST_USED_RESOLUTION_SECONDS = 60


class Scope(StrEnum):
    AUDITS_WRITE = "audits:write"
    AUDITS_READ = "audits:read"
    AUDITS_ERASE = "audits:erase"
    ADMIN = "admin"
