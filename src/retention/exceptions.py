from src.exceptions import NotFound


class HoldNotFound(NotFound, code="hold_not_found", detail="No such legal hold for this tenant."):
    pass


class TenantBusy(Exception):
    """The tenant's events table stayed locked past the job's wait (partitions.LOCK_WAIT):
    its run changes nothing now, and the next one does it."""
