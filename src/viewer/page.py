"""`GET /viewer`: the page, and its files, straight from the package (no build, no CDN)."""

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from src.http.middleware import PagePolicy
from src.viewer.constants import ASSETS_PATH, PAGE_PATH

STATIC = files("src.viewer") / "static"
PAGE = (STATIC / "index.html").read_text(encoding="utf-8")

router = APIRouter()


@router.get(PAGE_PATH, include_in_schema=False)
async def viewer_page() -> HTMLResponse:
    # `no-cache`: a new deployment's page (and so its scripts) is seen at once.
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


def page_policy(frame_ancestors: str) -> PagePolicy:
    """The page's own scripts and styles only, data from this origin only, and framed only
    by the origins the operator lists (`VIEWER_FRAME_ANCESTORS`: a product's admin console)."""
    return PagePolicy(
        csp="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; frame-ancestors {frame_ancestors}; base-uri 'none'; "
        "form-action 'none'",
        framed=frame_ancestors.strip() != "'none'",
    )


def add_viewer(app: FastAPI) -> None:
    """Serve the page at `/viewer` and its scripts and styles under `/viewer/assets/`."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(STATIC)), name="viewer-assets")
    app.include_router(router)
