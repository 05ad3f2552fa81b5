from src.exceptions import NotFound


class TenantNotFound(NotFound, detail="No such tenant."):
    pass
