"""The dashboard web UI: static files of `ui/` served at `/` (and at the older
`/static/dashboard.html?tenant_id=`), its npm dependencies from `ui/node_modules` (no build step).

Pages call the same API with the key the user entered (kept in the browser tab); the server sends
no data with them. A strict Content-Security-Policy allows only this origin's scripts and calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

DEFAULT_UI_DIR: Final = Path(__file__).resolve().parent.parent / "ui"
VENDOR: Final = {"chart.umd.min.js": "chart.js/dist/chart.umd.min.js"}
"""Files of npm packages the pages load, by the name they are served under."""
HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def install(app: FastAPI, ui_dir: Path = DEFAULT_UI_DIR) -> bool:
    """Serve the UI from `ui_dir` if it is there; returns whether it is."""
    index = ui_dir / "index.html"
    if not index.is_file():
        return False

    async def page() -> FileResponse:
        return FileResponse(index, headers=HEADERS)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/static/dashboard.html", page, methods=["GET"], include_in_schema=False)

    async def vendor(name: str) -> Response:
        relative = VENDOR.get(name)
        path = ui_dir / "node_modules" / relative if relative else None
        if path is None or not path.is_file():
            return Response(f"{name}: not installed (run make install)\n", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="text/javascript", headers={"cache-control": "max-age=3600"})

    app.add_api_route("/static/vendor/{name}", vendor, methods=["GET"], include_in_schema=False)
    app.mount("/static/app", StaticFiles(directory=ui_dir, html=False), name="ui")
    return True
