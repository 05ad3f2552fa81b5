"""Request-scoped pieces of the OpenAI domain: the gateway and whose ledger a key may read."""

from typing import Annotated

from fastapi import Depends, Query

from src.auth.constants import Scope
from src.auth.dependencies import SettingsDep, require
from src.auth.schemas import Principal, TenantSlug
from src.database import SessionmakerDep
from src.metrics import MetricsDep
from src.openai.client import OpenAIClientDep
from src.openai.schemas import LedgerScope
from src.openai.service import Gateway


async def get_gateway(
    client: OpenAIClientDep,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> Gateway:
    return Gateway(client=client, sessionmaker=sessionmaker, settings=settings, metrics=metrics)


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
