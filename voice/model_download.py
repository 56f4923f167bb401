"""Fetch and unpack the official small Chinese Vosk model, checked against a pinned SHA-256.

Kefu never downloads at run time: this is the one documented step (``kefu model download``)
that a user runs once. Offline machines get one clear line telling them what to do instead.
"""
from __future__ import annotations

import hashlib
import shutil
import socket
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from voice.errors import VoiceError

OFFICIAL_URL = "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip"
OFFICIAL_SHA256 = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
_CHUNK = 1 << 16


def download_model(dest_dir: Path | str, url: str = OFFICIAL_URL, sha256: str = OFFICIAL_SHA256,
                   timeout: float = 30.0) -> Path:
    """Download ``url`` into ``dest_dir``, verify it and unpack it; returns the model folder."""
    dest_dir = Path(dest_dir).expanduser().resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kefu-model-", dir=dest_dir) as workdir:
        archive = Path(workdir) / "model.zip"
        digest = _fetch(url, archive, timeout)
        if digest != sha256.lower():
            raise VoiceError(f"checksum mismatch for {url}: expected {sha256}, got {digest}; "
                             "the download is corrupt or was tampered with, retry it or download "
                             "it on a machine with internet and set VOSK_MODEL_PATH")
        staging = Path(workdir) / "unpacked"
        _safe_extract(archive, staging)
        return _install(staging, dest_dir, model_name(url))


def _fetch(url: str, target: Path, timeout: float) -> str:
    """Stream ``url`` to ``target``; returns the hex SHA-256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, socket.timeout, ConnectionError, ValueError) as exc:
        is_http_status = isinstance(exc, urllib.error.HTTPError)
        reason = exc if is_http_status else getattr(exc, "reason", None) or exc
        raise VoiceError(f"cannot reach {url}: {reason}; download it on a machine with internet "
                         "and set VOSK_MODEL_PATH") from exc
    return digest.hexdigest()


def _safe_extract(archive: Path, staging: Path) -> None:
    """Unpack refusing absolute paths, ``..`` and symlinks, so nothing lands outside ``staging``."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            for member in members:
                _check_member(member)
            staging.mkdir()
            for member in members:
                bundle.extract(member, staging)
    except zipfile.BadZipFile as exc:
        raise VoiceError(f"downloaded model is not a valid zip archive: {exc}") from exc


def _check_member(member: zipfile.ZipInfo) -> None:
    name = member.filename.replace("\\", "/")
    path = PurePosixPath(name)
    is_symlink = stat.S_ISLNK(member.external_attr >> 16)
    if path.is_absolute() or ".." in path.parts or ":" in name or is_symlink:
        raise VoiceError(f"refusing to unpack unsafe archive entry {member.filename!r}")


def _install(staging: Path, dest_dir: Path, fallback_name: str) -> Path:
    """Move the unpacked model into ``dest_dir``, replacing an older copy of the same name."""
    entries = list(staging.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        source, name = entries[0], entries[0].name
    else:
        source, name = staging, fallback_name
    target = dest_dir / name
    if target.exists():
        shutil.rmtree(target)
    shutil.move(str(source), str(target))
    return target


def model_name(url: str) -> str:
    """Folder name a model zip unpacks to by convention: the archive name without ".zip"."""
    name = PurePosixPath(url.split("?", 1)[0]).name
    return name[: -len(".zip")] if name.endswith(".zip") else name or "vosk-model"
