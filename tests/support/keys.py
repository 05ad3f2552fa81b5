"""Making API keys in tests without going through the API."""

from collections.abc import Sequence

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from src.auth import service
from src.auth.constants import Scope
from src.auth.schemas import KeyCreate, KeyCreated
from src.database import create_sessionmaker


async def make_key(
    engine: AsyncEngine,
    pepper: SecretStr,
    *,
    tenant: str | None = None,
    scopes: Sequence[Scope] = (Scope.ADMIN,),
    name: str | None = None,
) -> KeyCreated:
    async with create_sessionmaker(engine)() as session:
        return await service.create_key(
            session=session,
            pepper=pepper.get_secret_value().encode(),
            request=KeyCreate(tenant=tenant, scopes=list(scopes), name=name),
        )


def bearer(key: KeyCreated | str) -> dict[str, str]:
    secret = key if isinstance(key, str) else key.key
    return {"Authorization": f"Bearer {secret}"}
