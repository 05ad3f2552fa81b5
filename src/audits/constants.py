ACTION_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"
MAX_DETAILS_BYTES = 64 * 1024
MAX_DETAILS_DEPTH = 16
MAX_FUTURE_SECONDS = 5 * 60
MAX_BATCH_EVENTS = 1000
IDEMPOTENCY_TTL_HOURS = 24
EVENTS_CURSOR = "events"
# Events the service records about its own actions on events.
AUDIT_EVENT_ENTITY = "audit_event"
