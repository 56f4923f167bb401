"""Publishing editors' changes: hot-swap the model into the running server, and log every publish.

The publish log (``var/publish/log.jsonl``) says who published, when, and
which editor-owned files changed since the previous publish (the first: since ``kefu run`` first
served the install). Content files go live on save; ``kefu train`` records them too.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bot.settings import Settings

logger = logging.getLogger(__name__)

EDITOR_OWNED = ("config.yml", "domain", "nlu_data", "content", "ivr_flows", "prompts")


class PublishError(RuntimeError):
    """The running server refused or failed the change; it keeps serving the old version."""


def manifest(root: Path, places: list[Path] | None = None) -> dict[str, str]:
    """sha256 of every editor-owned file (under ``places``, default the project's ``EDITOR_OWNED``), by path
    relative to the project, or absolute for a folder configured outside it."""
    files: dict[str, str] = {}
    for path in places or [root / name for name in EDITOR_OWNED]:
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in candidates:
            name = str(file.relative_to(root)) if file.is_relative_to(root) else str(file)
            files[name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return files


def editor_places(settings: Settings) -> list[Path]:
    """Where the editors' files are: the project's, and the folders the settings name (KEFU_CONTENT_DIR...)."""
    return [settings.root / name for name in EDITOR_OWNED] + [
        settings.content_dir, settings.ivr_flows_dir, settings.prompts_dir]


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def _manifest_file(settings: Settings) -> Path:
    from bot.security.private_files import private_dir

    folder = private_dir(settings.data_dir / "publish")  # under the data folder: owner-only like the rest
    return folder / "manifest.json"


def _published_manifest(settings: Settings) -> dict[str, str] | None:
    """The files as last published (or first served); None when never recorded or unreadable (a
    manifest cut short by a crash in an older version): everything then counts as changed, once."""
    try:
        recorded = json.loads(_manifest_file(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        logger.warning("publish.manifest_unreadable path=%s: every editor file counts as changed", _manifest_file(settings))
        return None
    return recorded if isinstance(recorded, dict) else None


def _write_manifest(settings: Settings, files: dict[str, str]) -> None:
    """Replace the manifest whole: a crash while writing leaves the previous one, never half of one."""
    from bot.security.private_files import write_private_file

    write_private_file(_manifest_file(settings), json.dumps(files, indent=0).encode("utf-8"))


def record_baseline(settings: Settings) -> None:
    """Remember the files an install first serves, so its first publish lists only what an editor changed."""
    if _published_manifest(settings) is None:
        _write_manifest(settings, manifest(settings.root, editor_places(settings)))


def unpublished_changes(settings: Settings) -> list[str]:
    """Editor-owned files changed since the last publish (or the baseline), e.g. saved live."""
    return changed_files(_published_manifest(settings) or {}, manifest(settings.root, editor_places(settings)))


def record_publish(settings: Settings, what: str, detail: dict | None = None) -> dict:
    """Append a publish entry with the files changed since the last one; returns the entry."""
    folder = _manifest_file(settings).parent
    before = _published_manifest(settings) or {}
    after = manifest(settings.root, editor_places(settings))
    entry = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "who": settings.env.get("KEFU_EDITOR") or getpass.getuser(),
        "what": what,
        "changed": changed_files(before, after),
        **(detail or {}),
    }
    with (folder / "log.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
    _write_manifest(settings, after)
    return entry


@contextmanager
def swap_lock(settings: Settings) -> Iterator[None]:
    """One hot swap at a time into this data directory's server: ``kefu run``'s follower
    (bot/model_follower.py) and a ``kefu train`` on the same machine would otherwise both send a worker
    the model (each load takes about 25 s and its memory). The second waits, then finds it served."""
    from bot.security.private_files import private_dir

    folder = private_dir(settings.data_dir / "publish")
    handle = os.open(folder / "swap.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        yield
    finally:
        os.close(handle)


def api_url(rasa_url: str, path: str, token: str | None) -> str:
    """A Rasa HTTP API address with the server's token (Rasa reads it from ``?token=``)."""
    return f"{rasa_url}{path}" + (f"?{urllib.parse.urlencode({'token': token})}" if token else "")


def running_model(rasa_url: str, token: str | None = None) -> str | None:
    """The model file the server at ``rasa_url`` serves, or None if no server answers."""
    try:
        with urllib.request.urlopen(api_url(rasa_url, "/status", token), timeout=5) as response:
            return json.loads(response.read()).get("model_file")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def hot_swap(rasa_url: str, model: Path, timeout: float = 300, token: str | None = None, workers: int = 1) -> None:
    """Ask the running Rasa server to load ``model`` (Rasa's HTTP API: PUT /model, with the token).

    With several Sanic workers on one port (``KEFU_WORKERS``) each connection reaches one worker, and
    each worker holds its own model. So every fresh connection first asks its worker which model it
    serves (GET /status) and sends the swap on that same connection only if the worker lacks the new
    model: each worker loads it once, instead of again whenever a swap lands where one already did
    (a load takes about 25 s). Done when a run of fresh connections, many more than there are
    workers, all serve the new model.
    """
    confirmations = 1 if workers <= 1 else 6 * workers
    in_a_row = 0
    for _ in range(confirmations + 8 * workers):
        with _connection(rasa_url, timeout) as connection:
            if Path(_served(connection, token) or "").name == model.name:
                in_a_row += 1
                if in_a_row == confirmations:
                    return
                continue
            in_a_row = 0
            _put_model(connection, model, token)
    raise PublishError("the server did not switch to the new model")


@contextmanager
def _connection(rasa_url: str, timeout: float) -> Iterator[http.client.HTTPConnection]:
    """One keep-alive connection: every request on it reaches the same worker."""
    address = urllib.parse.urlsplit(rasa_url)
    kind = http.client.HTTPSConnection if address.scheme == "https" else http.client.HTTPConnection
    connection = kind(address.hostname, address.port, timeout=timeout)
    try:
        yield connection
    except (OSError, http.client.HTTPException) as exc:
        raise PublishError(f"cannot reach the server at {rasa_url}: {exc}") from exc
    finally:
        connection.close()


def _served(connection: http.client.HTTPConnection, token: str | None) -> str | None:
    """The model file this connection's worker serves; None if it cannot say (then it gets the swap)."""
    connection.request("GET", api_url("", "/status", token))
    response = connection.getresponse()
    body = response.read()
    try:
        return json.loads(body).get("model_file") if response.status == 200 else None
    except (ValueError, AttributeError):
        return None


def _put_model(connection: http.client.HTTPConnection, model: Path, token: str | None) -> None:
    body = json.dumps({"model_file": str(model)}).encode()
    connection.request("PUT", api_url("", "/model", token), body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 204:
        raise PublishError(f"server refused the model ({response.status}): {answer.decode(errors='replace')[:300]}")
