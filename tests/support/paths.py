"""API paths by route name, from the app's own routing (`url_path_for`): no test spells one."""

from src.config import Settings
from src.main import create_app

# Only the routing table is used: the lifespan never runs, nothing connects.
_ROUTES = create_app(Settings(_env_file=None))  # type: ignore[call-arg]  # pydantic-settings' init-only option


def api_path(name: str, **params: object) -> str:
    """The path of the route named `name` (its function's name), with its path parameters."""
    return _ROUTES.url_path_for(name, **{key: str(value) for key, value in params.items()})
