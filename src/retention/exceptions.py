from src.exceptions import NotFound


class HoldNotFound(NotFound, code="hold_not_found", detail="No such legal hold for this tenant."):
    pass
