"""`/docs` (Swagger UI) and `/redoc`, with every script, style and icon served by the app.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so in a closed network `/docs` is a
blank page. The `fastapi-offline` package ships those bundles (and keeps them current); they
are served from `/docs/assets/`, and the pages' Content-Security-Policy names no other host.
"""

from functools import cache
from importlib.resources import files

from fastapi import FastAPI, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"
PAGE_PATHS = frozenset({DOCS_PATH, REDOC_PATH, OAUTH2_REDIRECT_PATH})

# Swagger UI's options beyond FastAPI's defaults: no badge fetched from swagger.io's validator.
_SWAGGER_PARAMETERS = {"validatorUrl": None}

# ReDoc's bundle always renders its vendor's logo from a CDN beside "API docs by Redocly", with
# no option to turn it off; the CSP would refuse it, but the browser would still attempt it.
# The bundle is served with that address replaced by an empty `data:` URL, whose load fails at
# once, so ReDoc hides the image (its own `onError`) and nothing leaves the origin.
_REDOC_VENDOR_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_BUNDLE_PATH = f"{ASSETS_PATH}/redoc.standalone.js"
_ASSETS = files("fastapi_offline") / "static"


@cache  # a megabyte read and rewritten once per process, not for every app built
def redoc_bundle() -> bytes:
    """The packaged ReDoc bundle, with no address outside the origin that it loads."""
    bundle = (_ASSETS / "redoc.standalone.js").read_bytes()
    return bundle.replace(_REDOC_VENDOR_LOGO, b"data:,")


def add_offline_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve the documentation pages and their assets from this process."""
    bundle = redoc_bundle()

    # Registered before the mount of the other assets, so it answers for this one file.
    @app.get(REDOC_BUNDLE_PATH, include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(
            bundle,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(ASSETS_PATH, StaticFiles(directory=str(_ASSETS)), name="docs-assets")
    title = app.title

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=REDOC_BUNDLE_PATH,
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
