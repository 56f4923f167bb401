"""The files a page loads (scripts, styles, vendored libraries), served from their folder: the pages
themselves never.

Each page is served at its own route with its headers (a Content-Security-Policy whose
``frame-ancestors`` says who may frame it, ``Referrer-Policy``...). Its folder was served whole as
assets, so the same page was also at ``/agent/assets/index.html`` with none of them, where any site
could frame the desk (found in review). One route per file, HTML left out.
"""
from __future__ import annotations

from pathlib import Path

from sanic import Sanic

PAGES = (".html",)  # served by their own routes, with their own headers


def serve_assets(app: Sanic, prefix: str, folder: Path, name: str) -> None:
    """Serve each file under ``folder`` but the pages at ``prefix``/<its path in the folder>."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() not in PAGES)
    for number, path in enumerate(files):
        app.static(f"{prefix}/{path.relative_to(folder).as_posix()}", str(path), name=f"{name}_{number}")
