"""The published model every machine serves (production: `kefu train` reached one machine's server only).

Without servers: the model's bytes in the shared database and their checksum, `kefu publish` and
`kefu published` (rollback), what `kefu run` serves at its start, the follower that hot-swaps a new
publication, and the Keeper starting a stopped Rasa server with the model published since. Each runs
on SQLite and, with KEFU_TEST_POSTGRES_URL, on PostgreSQL. The real servers: tests/ops/test_instance_lifecycle.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import tarfile
import threading
import types
import uuid

import pytest
import sqlalchemy as sa

from bot import settings as settings_module
from bot.db import model_store
from bot.db.model_store import ChecksumMismatch, ModelStore, file_sha256
from bot.db.repository import Repository
from bot.db.schema import model_file_chunks, model_files
from tests.postgres import fresh_database_url, postgres_server_url


@pytest.fixture(params=["sqlite", "postgresql"])
def machine(request, tmp_path, monkeypatch):
    """One machine's settings (its own data and models folders) on a new shared database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    elif postgres_server_url():
        url = fresh_database_url(postgres_server_url())
    else:
        pytest.skip("no PostgreSQL server (KEFU_TEST_POSTGRES_URL)")
    monkeypatch.setenv("KEFU_DATABASE_URL", url)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("KEFU_RASA_PORT", "9")  # nothing answers: no server to swap on this "machine"
    monkeypatch.setenv("KEFU_EDITOR", "小王")
    monkeypatch.setattr(model_store, "CHUNK_BYTES", 64 * 1024)  # a small model still spans many chunks
    settings_module.get_settings.cache_clear()
    settings = settings_module.get_settings()
    settings.data_dir.mkdir(parents=True)
    Repository(url).create_schema()
    yield settings
    settings_module.get_settings.cache_clear()


def fake_model(folder, name: str, size: int = 300_000, rasa_version: str | None = None,
               training_type: str = "both") -> os.PathLike:
    """A model archive as Rasa writes one (its metadata, readable by Rasa), with ``size`` bytes of
    incompressible padding in place of the trained components."""
    import rasa
    from rasa.engine.graph import GraphSchema
    from rasa.engine.storage.storage import ModelMetadata
    from rasa.shared.core.domain import Domain

    metadata = ModelMetadata(trained_at=dt.datetime.now(), rasa_open_source_version=rasa.__version__,
                             model_id=uuid.uuid4().hex, assistant_id="kefu", domain=Domain.empty(),
                             train_schema=GraphSchema({}), predict_schema=GraphSchema({}),
                             project_fingerprint=uuid.uuid4().hex, core_target=None, nlu_target="nlu", language="zh")
    serialized = metadata.as_dict()
    if rasa_version:
        serialized["rasa_open_source_version"] = rasa_version
    serialized["training_type"] = {"both": 3, "nlu": 1}[training_type]  # rasa.shared.data.TrainingType
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with tarfile.open(path, "w:gz") as archive:
        for member, data in (("metadata.json", json.dumps(serialized).encode()), ("padding", os.urandom(size))):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_stored_model_comes_back_byte_for_byte(machine, tmp_path):
    model = fake_model(tmp_path / "elsewhere", "kefu-aaaa.tar.gz")
    store = ModelStore(machine.database_url)
    stored = store.store(model)
    assert store.store(model) == stored  # the same bytes are stored once
    fetched = store.fetch(stored.sha256, tmp_path / "fetched" / model.name)
    assert fetched.read_bytes() == model.read_bytes()


def test_a_fetch_whose_bytes_do_not_match_the_checksum_is_refused(machine, tmp_path):
    model = fake_model(tmp_path / "elsewhere", "kefu-aaaa.tar.gz")
    store = ModelStore(machine.database_url)
    stored = store.store(model)
    with store.engine.begin() as conn:  # one chunk damaged in the database
        conn.execute(model_file_chunks.update().where(model_file_chunks.c.sha256 == stored.sha256,
                                                      model_file_chunks.c.seq == 2).values(data=b"x" * 1000))
    destination = tmp_path / "fetched" / model.name
    with pytest.raises(ChecksumMismatch, match="refused"):
        store.fetch(stored.sha256, destination)
    assert list(destination.parent.iterdir()) == []  # neither the model nor a partial file


def run_kefu(*argv) -> int:
    from bot.cli import main

    return main(list(argv))


def test_publishing_a_missing_file_says_so_and_publishes_nothing(machine, capsys):
    assert run_kefu("publish", "/nowhere/kefu-0123456789abcdef.tar.gz") == 1
    said = capsys.readouterr().err
    assert "not published" in said and "/nowhere/kefu-0123456789abcdef.tar.gz: no such model file" in said
    assert ModelStore(machine.database_url).current() is None


@pytest.mark.parametrize("what", ["not a model", "a model of an older Rasa", "an NLU-only model"])
def test_publishing_a_file_no_rasa_server_would_load_is_refused(machine, tmp_path, capsys, what):
    served = fake_model(tmp_path / "ci", "kefu-1111111111111111.tar.gz")
    assert run_kefu("publish", str(served)) == 0
    if what == "not a model":
        wrong = tmp_path / "ci" / "kefu-notes.tar.gz"
        wrong.write_text("模型在共享盘上", encoding="utf-8")  # the operator's typo: another file
    elif what == "an NLU-only model":  # e.g. `kefu test`'s held-out model: no reply to any customer
        wrong = fake_model(tmp_path / "ci", "nlu-heldout-2222222222222222.tar.gz", training_type="nlu")
    else:
        wrong = fake_model(tmp_path / "ci", "kefu-2222222222222222.tar.gz", rasa_version="3.5.0")
    capsys.readouterr()
    assert run_kefu("publish", str(wrong)) == 1
    said = capsys.readouterr().err
    assert f"not published: {wrong} is not a Rasa model" in said and "no machine changes its model" in said
    store = ModelStore(machine.database_url)
    assert store.current().name == served.name  # every machine keeps serving the model it serves
    assert store.find(wrong.name) is None  # and the file was not stored either


def test_an_operator_rolls_back_to_an_earlier_model_by_its_name(machine, tmp_path, capsys):
    first = fake_model(tmp_path / "ci", "kefu-1111111111111111.tar.gz")
    second = fake_model(tmp_path / "ci", "kefu-2222222222222222.tar.gz")
    assert run_kefu("publish", str(first)) == 0
    assert run_kefu("publish", str(second)) == 0
    first.unlink()  # rolling back needs no file: the database still has it
    assert run_kefu("publish", first.name) == 0
    current = ModelStore(machine.database_url).current()
    assert (current.name, current.published_by) == (first.name, "小王")
    capsys.readouterr()
    assert run_kefu("published") == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"published: {first.name}") and second.name in shown


def test_kefu_run_starts_with_the_published_model_fetched_from_the_database(machine, tmp_path):
    from bot.published_model import model_to_serve, publish

    model = fake_model(tmp_path / "other-machine", "kefu-3333333333333333.tar.gz")
    publication = publish(machine, model)
    path, served = model_to_serve(machine)  # this machine's models folder does not have it
    assert served == publication
    assert path == machine.data_dir / "published-models" / model.name
    assert file_sha256(path) == publication.sha256


class FakeServer:
    """Records hot swaps; fails the first ``failures`` of them as a restarting server would."""

    def __init__(self, failures: int = 0) -> None:
        self.swapped: list = []
        self.failures = failures

    def __call__(self, url, model, token=None, workers=1):
        from bot.editor.publish import PublishError

        if self.failures:
            self.failures -= 1
            raise PublishError(f"cannot reach the server at {url}: connection refused")
        self.swapped.append(model)


def test_the_follower_hot_swaps_a_new_publication_and_retries_a_failed_swap(machine, tmp_path):
    from bot.model_follower import RETRY_FIRST_S, Follower
    from bot.published_model import publish

    stack = types.SimpleNamespace(model=tmp_path / "models" / "kefu-started.tar.gz")
    server = FakeServer(failures=1)
    follower = Follower(machine, stack, token="t", swap=server)
    assert follower.step(now=0) is False  # nothing published: the instance keeps its model
    model = fake_model(tmp_path / "other-machine", "kefu-4444444444444444.tar.gz")
    publish(machine, model)

    assert follower.step(now=10) is False  # the swap failed: logged, no exception
    assert stack.model.name == model.name  # yet a Rasa server started again now serves it
    assert follower.step(now=11) is False and server.swapped == []  # backing off
    assert follower.step(now=10 + RETRY_FIRST_S) is True
    assert server.swapped == [stack.model] and file_sha256(stack.model) == file_sha256(model)
    assert follower.step(now=100) is False and len(server.swapped) == 1  # nothing new: nothing done


def test_a_rasa_server_the_keeper_starts_again_gets_the_model_published_since(tmp_path):
    import subprocess
    import sys

    from bot.launcher import Keeper

    started_with, published = tmp_path / "kefu-old.tar.gz", tmp_path / "kefu-new.tar.gz"
    stopped = subprocess.Popen([sys.executable, "-c", "pass"])
    stopped.wait()
    spawned = []
    stack = types.SimpleNamespace(processes=[stopped], model=started_with, child_environment=dict,
                                  _spawn=lambda command, env, log: spawned.append(command) or stopped)
    keeper = Keeper(stack, [("Rasa server", tmp_path / "rasa.log")],
                    {"Rasa server": lambda: ["rasa", "run", "--model", str(stack.model)]})
    stack.model = published  # kefu run's follower, after a publish
    keeper.tick(now=10_000)  # notices the exit
    keeper.tick(now=10_100)  # back-off over: starts it again
    assert spawned == [["rasa", "run", "--model", str(published)]]


def test_a_publication_history_keeps_only_the_recent_models(machine, tmp_path, monkeypatch):
    import datetime as dt

    store = ModelStore(machine.database_url)
    monkeypatch.setattr(model_store, "utcnow", lambda: dt.datetime(2026, 1, 1))  # stored long ago
    from bot.published_model import publish

    names = [f"kefu-{n:016d}.tar.gz" for n in range(3)]
    for name in names:
        publish(machine, fake_model(tmp_path / "ci", name, 1000), store)
    monkeypatch.setattr(model_store, "utcnow", lambda: dt.datetime(2026, 1, 2))
    assert store.prune(keep=2) == 1
    assert [(p.name, kept) for p, kept in store.history()] == [(names[2], True), (names[1], True), (names[0], False)]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(model_file_chunks)).scalar() == 2


def test_the_same_model_published_from_a_file_of_another_name_is_served_by_that_name(machine, tmp_path):
    """An operator publishing models/kefu-<hash>.tar.gz expects /status to name that file, even when its
    bytes were published before under another name (a renamed copy)."""
    import shutil

    from bot.published_model import local_file, publish

    model = fake_model(tmp_path / "ci", "kefu-5555555555555555.tar.gz")
    copy = tmp_path / "ci" / "kefu-copy.tar.gz"
    shutil.copyfile(model, copy)
    assert publish(machine, copy).name == copy.name
    assert publish(machine, model).name == model.name
    assert publish(machine, copy.name).name == copy.name  # by the name it was published under
    current = ModelStore(machine.database_url).current()
    assert (current.name, current.sha256) == (copy.name, file_sha256(model))
    assert local_file(machine, current).name == copy.name


class Paused:
    """Holds one thread inside its transaction right after it ran a statement starting with ``prefix``
    (``reached`` is set), until ``go`` is set: another machine's step caught half-way."""

    def __init__(self, engine, prefix: str) -> None:
        self.engine, self.prefix, self.thread = engine, prefix, None
        self.reached, self.go = threading.Event(), threading.Event()
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, conn, cursor, statement, *args) -> None:
        if threading.current_thread() is self.thread and statement.lstrip().startswith(self.prefix):
            self.reached.set()
            assert self.go.wait(timeout=30)

    def run(self, act, outcome: list) -> threading.Thread:
        self.thread = threading.Thread(target=_outcome_of, args=(act, outcome))
        self.thread.start()
        assert self.reached.wait(timeout=30), f"never ran {self.prefix}"
        return self.thread

    def close(self) -> None:
        self.go.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        if sa.event.contains(self.engine, "after_cursor_execute", self._after):
            sa.event.remove(self.engine, "after_cursor_execute", self._after)


def _outcome_of(act, outcome: list) -> None:
    try:
        outcome.append(act())
    except Exception as exc:  # noqa: BLE001 - the test shows what the operator would get
        outcome.append(exc)


def must_wait(act, outcome: list, paused: Paused, why: str) -> None:
    """Run ``act`` (another machine) while ``paused`` holds its transaction open: it must wait (still
    running a second later), then finish once the paused one goes on and commits."""
    other = threading.Thread(target=_outcome_of, args=(act, outcome))
    other.start()
    other.join(timeout=1.0)
    alive = other.is_alive()
    paused.go.set()
    paused.thread.join(timeout=30)
    other.join(timeout=30)
    assert alive, why


def rollback_target(machine, tmp_path):
    """A model stored days ago and published once, then ``KEEP_PUBLISHED`` publications of another:
    the old one is no longer kept, and is what an operator's rollback names."""
    store = ModelStore(machine.database_url)
    old = store.store(fake_model(tmp_path / "ci", "kefu-0000000000000001.tar.gz", 1000))
    new = store.store(fake_model(tmp_path / "ci", "kefu-0000000000000002.tar.gz", 1000))
    for stored in [old] + [new] * model_store.KEEP_PUBLISHED:
        store.publish(stored, "小王")  # stored just now: kept for the hour another machine may publish it in
    with store.engine.begin() as conn:
        conn.execute(model_files.update().values(stored_at=dt.datetime(2026, 1, 1)))
    return old, new


def test_a_rollback_published_while_another_machine_prunes_keeps_its_model(machine, tmp_path):
    """Machine A publishes an old model (a rollback) while B prunes (after its own publish): B must not
    delete the model A's publication names, or no machine can fetch the published model."""
    old, new = rollback_target(machine, tmp_path)
    a, b = ModelStore(machine.database_url), ModelStore(machine.database_url)
    published, pruned = [], []
    paused = Paused(a.engine, "INSERT INTO model_publications")  # A's row written, not committed yet
    try:
        paused.run(lambda: a.publish(old, "小王", "a"), published)
        must_wait(b.prune, pruned, paused, "B's prune should wait for the publication in flight")
    finally:
        paused.close()
    assert [type(p).__name__ for p in published] == ["Publication"] and pruned == [0]
    assert [(p.sha256, stored) for p, stored in a.history(1)] == [(old.sha256, True)]
    fetched = a.fetch(old.sha256, tmp_path / "fetched" / old.name)  # every machine can still fetch it
    assert file_sha256(fetched) == old.sha256


def test_a_rollback_to_a_model_pruned_meanwhile_is_refused_and_publishes_nothing(machine, tmp_path):
    """B's prune deletes the old model while A publishes it: A must say it is gone, not publish a model
    no machine can fetch."""
    old, new = rollback_target(machine, tmp_path)
    a, b = ModelStore(machine.database_url), ModelStore(machine.database_url)
    pruned, published = [], []
    paused = Paused(b.engine, "DELETE FROM model_files")  # B deleted it, not committed yet
    try:
        paused.run(b.prune, pruned)
        must_wait(lambda: a.publish(old, "小王", "a"), published, paused,
                  "A's publish should wait for the prune in flight")
    finally:
        paused.close()
    assert pruned == [1]
    assert len(published) == 1 and isinstance(published[0], model_store.ModelGone), published
    assert "no longer stored" in str(published[0])
    assert a.current().sha256 == new.sha256  # nothing was published: every machine keeps serving the new one


def test_a_rollback_from_its_file_whose_stored_bytes_another_machine_prunes_meanwhile_is_published(machine, tmp_path):
    """The operator publishes an old model's file again; its bytes are still stored (long ago, no longer
    kept), and another machine's prune deletes them between this publish finding them and publishing
    them. The file is right here: the rollback stores it again and goes through, not refused once."""
    from bot.published_model import local_file, publish

    old, new = rollback_target(machine, tmp_path)
    a, b = ModelStore(machine.database_url), ModelStore(machine.database_url)
    found = a.store
    pruned = []

    def found_then_pruned(path, name=None):
        stored = found(path, name)
        if not pruned:
            pruned.append(b.prune())  # another machine, at that moment
        return stored

    a.store = found_then_pruned
    publication = publish(machine, tmp_path / "ci" / old.name, a)
    assert pruned == [1]
    assert publication.sha256 == old.sha256 and b.current().sha256 == old.sha256
    fetched = local_file(dataclasses.replace(machine, models_dir=tmp_path / "elsewhere"), publication, b)
    assert file_sha256(fetched) == old.sha256
