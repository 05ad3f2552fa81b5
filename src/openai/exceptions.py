"""Upstream AI failures, as the problems the contract names.

Details are written here, never copied from the upstream: an upstream error message can
echo a (partly masked) API key or the prompt, so none of its text reaches a client or a log.
"""

from src.exceptions import DomainError, GatewayTimeout, ServiceUnavailable


class AiNotConfigured(
    ServiceUnavailable,
    code="ai_not_configured",
    detail="The AI features are off: set OPENAI_API_KEY (and OPENAI_BASE_URL) to use them.",
):
    pass


class AiRateLimited(
    ServiceUnavailable,
    code="ai_rate_limited",
    detail="The AI provider is rate-limiting Trailmark; retry after `Retry-After` seconds.",
):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})


class AiUpstreamError(
    DomainError, status=502, code="ai_upstream_error", detail="The AI provider failed to answer."
):
    pass


class AiUpstreamTimeout(
    GatewayTimeout,
    code="ai_upstream_timeout",
    detail="The AI provider did not answer in time; try again later.",
):
    pass
