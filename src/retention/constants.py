from enum import StrEnum

MIN_DAYS = 30
MAX_DAYS = 3650


class RetentionMode(StrEnum):
    ERASE = "erase"  # the payload goes, as `DELETE /audits/{id}` does; the row and leaf stay
    PRUNE = "prune"  # the rows go too (by whole months), and the log's minimum index moves up


# What the trail records of retention (every such event's actor is of type `system`).
RETENTION_ACTOR = "trailmark.retention"
HOLD_ENTITY = "legal_hold"
POLICY_ENTITY = "retention_policy"
HOLD_CREATED = "legal_hold.created"
HOLD_RELEASED = "legal_hold.released"
RETENTION_RUN = "retention.run"
