from src.exceptions import NotFound, UnprocessableRequest


class KeyNotFound(NotFound):
    default_detail = "No API key with that id."


class InvalidKeyRequest(UnprocessableRequest):
    default_detail = "The key's tenant and scopes do not fit together."


class TenantRequired(UnprocessableRequest):
    default_detail = "An admin key must name the tenant with the `tenant` query parameter."
