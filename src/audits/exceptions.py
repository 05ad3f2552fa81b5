from src.exceptions import Conflict, Gone, NotFound, UnprocessableRequest


class EventNotFound(NotFound, detail="No audit event with that id."):
    pass


class EventErased(
    Gone,
    code="event_erased",
    detail="The event's personal payload was erased; it is no longer served.",
):
    pass


class InvalidStatusTransition(
    Conflict,
    code="invalid_status_transition",
    detail="Only a pending event may change its status, and only once.",
):
    pass


class IdempotencyKeyReused(
    UnprocessableRequest,
    code="idempotency_key_reused",
    detail="This Idempotency-Key was used with a different request body.",
):
    pass


class IdempotencyKeyInFlight(
    Conflict,
    code="idempotency_key_in_flight",
    detail="A request with this Idempotency-Key is still being processed; retry shortly.",
):
    pass


class InvalidSearchQuery(UnprocessableRequest):
    """A malformed `q`: the detail names the offending term."""

    def __init__(self, term: str, reason: str) -> None:
        self.term = term
        super().__init__(f"Invalid search term {term!r}: {reason}.")


class QuestionNotMappable(
    UnprocessableRequest,
    code="question_not_mappable",
    detail="The question could not be turned into a search of the audit log; rephrase it "
    "with what happened, to what, by whom or when.",
):
    pass
