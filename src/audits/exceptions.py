from src.exceptions import Conflict, Gone, NotFound, UnprocessableRequest


class EventNotFound(NotFound):
    default_detail = "No audit event with that id."


class TenantNotFound(NotFound):
    default_detail = "No such tenant."


class EventErased(Gone):
    code = "event_erased"
    default_detail = "The event's personal payload was erased; it is no longer served."


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"
    default_detail = "Only a pending event may change its status, and only once."


class IdempotencyKeyReused(UnprocessableRequest):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request body."


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidSearchQuery(UnprocessableRequest):
    """A malformed `q`: the detail names the offending term."""

    def __init__(self, term: str, reason: str) -> None:
        self.term = term
        super().__init__(f"Invalid search term {term!r}: {reason}.")


class QuestionNotMappable(UnprocessableRequest):
    code = "question_not_mappable"
    default_detail = (
        "The question could not be turned into a search of the audit log; rephrase it with "
        "what happened, to what, by whom or when."
    )
