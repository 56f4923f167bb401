"""Where the files behind ``/media/...`` URLs live.

Editors put filmed videos and images under the media folder; rendered
step-by-step videos go to ``<media>/rendered/``. An editor's own file wins.
"""
from __future__ import annotations

from pathlib import Path

RENDERED = "rendered"


def media_file(media_dir: Path, url: str) -> Path | None:
    """The file behind a /media/ URL (an editor's own first, else a rendered one); None for other URLs."""
    if not url.startswith("/media/"):
        return None
    relative = url.removeprefix("/media/")
    if ".." in Path(relative).parts:
        return None
    own = media_dir / relative
    return own if own.exists() else media_dir / RENDERED / relative
