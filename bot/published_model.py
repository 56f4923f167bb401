"""Which Rasa model this machine serves: the one published to every machine, as a file on this machine.

**Publish is authoritative.** Once a model is published (``kefu train``, ``kefu publish``; stored in the
shared database by :mod:`bot.db.model_store`), every ``kefu run`` sharing that database serves it: at
its start, when its Keeper starts the Rasa server again, and within seconds of a new publish
(:mod:`bot.model_follower`) — even when this checkout's training data would give another model, so
that every machine answers alike whatever checkout it runs. ``kefu run`` says which model it serves,
and when this checkout's data differs from it. Until the first publish (a new deployment), each
machine serves the model for its own data, as before.

A publication's file on this machine is ``<models>/<name>`` when its bytes are the published ones
(the machine that trained it, or a models folder several machines share), else
``<data_dir>/published-models/<name>``, fetched from the database (checksum verified) when missing.
A machine that trained a model of the same name itself (same data, same code: the name is their
hash) keeps serving that one until its Rasa server starts again, then serves the published bytes.
"""
from __future__ import annotations

import getpass
import logging
import re
import socket
from pathlib import Path

from bot.db.model_store import ModelGone, ModelStore, Publication, file_sha256
from bot.db.repository import DatabaseError, Repository
from bot.security.private_files import private_dir
from bot.training import ensure_model, model_path

log = logging.getLogger(__name__)

FETCHED_DIR = "published-models"
KEEP_FETCHED = 3  # files in <data_dir>/published-models/: the served one and the last others (rollback)
KEEP_TRAINED = 3  # Kefu's trained models in <models>/ beside the published one: the newest others
TRAINED = re.compile(r"kefu-[0-9a-f]{16}\.tar\.gz")  # bot.training's names; anything else there is not ours


class NothingToPublish(FileNotFoundError):
    """Neither a model file nor a stored model has that name."""


class NotAModel(ValueError):
    """The file is not a Rasa model this Rasa can load: publishing it would make every machine try it."""


def check_model_file(path: Path) -> None:
    """Refuse what no Rasa server here would load (an operator's typo, a truncated copy, a model of an
    older Rasa) before every machine follows it; ``NotAModel`` says why. Rasa's own reader is used: it
    opens the archive and its metadata and checks the Rasa version it was trained with."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.shared.data import TrainingType

    try:
        metadata = LocalModelStorage.metadata_from_archive(path)
    except Exception as exc:  # noqa: BLE001 - whatever Rasa cannot read is not a model to publish
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotAModel(f"{path} is not a Rasa model this Kefu can serve ({reason})") from exc
    if metadata.training_type not in (TrainingType.BOTH, TrainingType.END_TO_END):
        # An NLU-only model (`kefu test`'s held-out models) understands messages but has no dialogue
        # policies: a server running it answers every customer with nothing (SRE tester).
        raise NotAModel(f"{path} is not a Rasa model this Kefu can serve (trained for "
                        f"{metadata.training_type.model_type} only: customers would get no reply)")


def open_store(settings, *, upgrade: bool = False) -> ModelStore:
    """The shared model store; ``upgrade``: first bring the database to this Kefu's schema (a command run
    before ``kefu run`` ever did, e.g. ``kefu train`` on a fresh clone)."""
    if upgrade:
        private_dir(settings.data_dir)  # a fresh install's SQLite file goes in it
        Repository(settings.database_url).create_schema()
    return ModelStore(settings.database_url)


def publisher(settings) -> str:
    return settings.env.get("KEFU_EDITOR") or getpass.getuser()


def publish(settings, file_or_name: str | Path, store: ModelStore | None = None) -> Publication:
    """Publish a model file (stored first), or a model the database still holds (by name or sha256: a
    rollback without the file). ``NothingToPublish`` names what was looked for; ``NotAModel`` refuses a
    file no Rasa server here would load."""
    store = store or open_store(settings, upgrade=True)
    path = Path(file_or_name).expanduser()
    if path.is_file():
        check_model_file(path)

        def from_file() -> Publication:
            return store.publish(store.store(path), publisher(settings), socket.gethostname(), path.name)

        try:
            return from_file()
        except ModelGone:  # its bytes were stored long ago, and another machine's prune took them meanwhile:
            return from_file()  # stored again, now, they are kept for the hour (a rollback went wrong once)
    stored = store.find(str(file_or_name))
    if stored is None:
        raise NothingToPublish(f"{file_or_name}: no such model file, and no stored model of that name or "
                               "sha256 (`kefu published` lists the ones that can be published again)")
    return store.publish(stored, publisher(settings), socket.gethostname())


def fetched_dir(settings) -> Path:
    return settings.data_dir / FETCHED_DIR


def local_file(settings, publication: Publication, store: ModelStore | None = None) -> Path:
    """The published model as a file here: a local copy with the published bytes, else fetched."""
    name = publication.name if _plain_name(publication.name) else f"model-{publication.sha256[:16]}.tar.gz"
    for candidate in (settings.models_dir / name, fetched_dir(settings) / name):
        if candidate.is_file() and file_sha256(candidate) == publication.sha256:
            return candidate
    path = (store or open_store(settings)).fetch(publication.sha256, fetched_dir(settings) / name)
    log.info("model.fetched name=%s sha256=%s", name, publication.sha256[:12])
    return path


def _plain_name(name: str) -> bool:
    return bool(name) and Path(name).name == name and not name.startswith(".")


def prune_fetched(settings, serving: Path) -> None:
    """Fetched models beyond the served one and the ``KEEP_FETCHED - 1`` newest others are deleted."""
    try:
        files = sorted((p for p in fetched_dir(settings).iterdir() if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: p.stat().st_mtime, reverse=True)
    except FileNotFoundError:
        return
    others = [p for p in files if p != serving]
    for old in others[KEEP_FETCHED - 1:]:
        old.unlink(missing_ok=True)


def prune_trained(settings, keep: set[str]) -> None:
    """After a publish: Kefu's trained models in the models folder other than those named in ``keep`` (the
    published one, the one this machine's server served) and the ``KEEP_TRAINED`` newest others are
    deleted. Each is 20-30 MB and every publish of new examples trained one; the database keeps the
    last publications' models for a rollback (``kefu publish <name>``)."""
    try:
        files = sorted((p for p in settings.models_dir.iterdir() if TRAINED.fullmatch(p.name) and p.name not in keep),
                       key=lambda p: p.stat().st_mtime, reverse=True)
    except FileNotFoundError:
        return
    for old in files[KEEP_TRAINED:]:
        old.unlink(missing_ok=True)
        log.info("model.pruned name=%s", old.name)


def model_to_serve(settings) -> tuple[Path, Publication | None]:
    """At ``kefu run``'s start: the published model (fetched if needed), else — nothing published yet,
    or it cannot be had — the model for this checkout's data (trained if missing)."""
    try:
        publication = open_store(settings).current()
        if publication is not None:
            path = local_file(settings, publication)
            checkout = model_path(settings.root, settings.models_dir).name
            log.info("model.published name=%s by=%s at=%s", publication.name, publication.published_by,
                     publication.published_at)
            if checkout != publication.name:
                log.warning("model.checkout_differs serving=%s checkout_data_gives=%s (publish is authoritative: "
                            "`kefu train` here publishes this checkout's)", publication.name, checkout)
            return path, publication
    except (DatabaseError, OSError) as exc:
        log.warning("model.published_unavailable error=%s serving=checkout_model", exc)
    model, trained = ensure_model(settings.root, settings.models_dir)
    log.info("model.%s", "trained" if trained else "reused")
    return model, None
