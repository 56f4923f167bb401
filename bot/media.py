"""Where the files behind ``/media/...`` URLs live.

Editors put filmed videos and images under the media folder; rendered
step-by-step videos go to ``<media>/rendered/``. An editor's own file wins.
"""
from __future__ import annotations

import os
from pathlib import Path

RENDERED = "rendered"


def media_file(media_dir: Path, url: str) -> Path | None:
    """The file behind a /media/ URL (an editor's own first, else a rendered one); None for other URLs
    and for any path that would leave the media folder.

    The check is on the normalised path, not on the URL's spelling: ``/media//etc/passwd`` has no
    ``..`` in it, yet joining its absolute remainder to the folder discards the folder. Links an
    editor placed inside the folder are still followed.
    """
    if not url.startswith("/media/"):
        return None
    relative = url.removeprefix("/media/")
    root = Path(os.path.abspath(media_dir))
    own, rendered = (Path(os.path.normpath(folder / relative)) for folder in (root, root / RENDERED))
    if not (own.is_relative_to(root) and rendered.is_relative_to(root)):
        return None
    return own if own.exists() else rendered


def rendered_file(media_dir: Path, url: str) -> Path | None:
    """Where Kefu writes the rendered file for a /media/ URL: inside ``<media>/rendered/``, or None (another
    URL, or a path that would leave that folder, as ``media_file`` checks for reading)."""
    if not url.startswith("/media/"):
        return None
    folder = Path(os.path.abspath(media_dir)) / RENDERED
    path = Path(os.path.normpath(folder / url.removeprefix("/media/")))
    return path if path.is_relative_to(folder) and path != folder else None


def media_ready(media_dir: Path, url: str) -> bool:
    """Whether ``url`` can be sent to a customer: a /media/ file that exists, or any other address
    (an editor's own CDN). A rendered video is still being made on a fresh install."""
    if not url:
        return False
    if not url.startswith("/media/"):
        return "://" in url
    found = media_file(media_dir, url)
    return found is not None and found.is_file()
