from src.exceptions import NotFound, UnprocessableRequest


class KeyNotFound(NotFound, detail="No API key with that id."):
    pass


class TenantNotFound(NotFound, detail="No such tenant."):
    pass


class TenantsDisagree(
    UnprocessableRequest, detail="The `tenant` query parameter and body field disagree."
):
    pass


class TenantRequired(
    UnprocessableRequest,
    detail="An admin key must name the tenant with the `tenant` query parameter.",
):
    pass
