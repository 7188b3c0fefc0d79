"""Serve the memory console's page and assets at `/engram/ui/`, before auth.

The files are static and hold no data, like any sign-in page; the page then calls the API with
the bearer token the user signs in with. They ship in the package (`agent/server/console/`):
no build step, no CDN, and the page works offline.
"""

from __future__ import annotations

from pathlib import Path

from starlette._utils import get_route_path
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/engram/ui"
ASSETS = Path(__file__).parent / "console"
FILES = {"": "index.html", "index.html": "index.html", "console.js": "console.js",
         "console.css": "console.css"}
HEADERS = {
    # Only our own files; the API is same-origin. No framing (clickjacking).
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


class ConsoleAssets:
    """ASGI middleware: answer GETs under PREFIX from ASSETS; pass everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a console file, redirect the bare prefix, or hand the request on."""
        # The path as the app sees it: under a mount prefix too (`scope["path"]` keeps it).
        path = get_route_path(scope) if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        response: Response
        name = path[len(PREFIX) + 1:]
        if scope["method"] not in ("GET", "HEAD"):
            response = Response("the console's files are read-only", status_code=405,
                                headers={"allow": "GET, HEAD"})
        elif path == PREFIX:
            response = RedirectResponse(scope.get("root_path", "") + PREFIX + "/",
                                        status_code=308)
        elif name in FILES:
            response = FileResponse(ASSETS / FILES[name], headers=HEADERS)
        else:
            response = Response("not found", status_code=404, headers=HEADERS)
        await response(scope, receive, send)
