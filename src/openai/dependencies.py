"""Request-scoped pieces of the OpenAI domain: the gateway and whose ledger a key may read."""

from typing import Annotated

from fastapi import Depends, Query

from src.auth.constants import Scope
from src.auth.dependencies import require
from src.auth.schemas import Principal, TenantSlug
from src.dependencies import MetricsDep, OpenAIClientDep, SessionDep, SettingsDep
from src.openai.exceptions import AiNotConfigured
from src.openai.schemas import LedgerScope, Period
from src.openai.service import Gateway
from src.schemas import Rfc3339


async def get_gateway(
    client: OpenAIClientDep, session: SessionDep, settings: SettingsDep, metrics: MetricsDep
) -> Gateway:
    """What a model call needs; 503 `ai_not_configured` when no OPENAI_API_KEY is set."""
    if client is None:
        raise AiNotConfigured()
    return Gateway(client=client, session=session, settings=settings, metrics=metrics)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def ledger_scope(
    principal: Annotated[Principal, Depends(require(Scope.AUDITS_READ))],
    tenant: Annotated[
        TenantSlug | None,
        Query(description="Only this tenant's calls. Admin keys: every tenant when omitted."),
    ] = None,
) -> LedgerScope:
    """An admin reads every tenant's calls (or the one named); a tenant key only its own."""
    if principal.tenant is None:
        return LedgerScope(tenant=tenant)
    return LedgerScope(
        tenant=tenant or principal.tenant, visible=tenant in (None, principal.tenant)
    )


LedgerScopeDep = Annotated[LedgerScope, Depends(ledger_scope)]


async def period(
    since: Annotated[Rfc3339 | None, Query(description="Inclusive start (RFC 3339).")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Exclusive end (RFC 3339).")] = None,
) -> Period:
    return Period(since, until)


PeriodDep = Annotated[Period, Depends(period)]
