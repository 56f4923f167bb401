"""Publishing: a model hot-swap under live traffic, and the publish log."""
from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from bot.editor.publish import (PublishError, changed_files, hot_swap, manifest, record_baseline, record_publish,
                                running_model, unpublished_changes)
from bot.security.secrets import load_secrets
from bot.settings import get_settings
from tests.editor.conftest import edit
from tests.ops.faults import wait_for
from tests.test_rest_smoke import post


@pytest.mark.slow
def test_model_hot_swap_under_live_traffic_fails_no_request(running_kefu, tmp_path):
    url = running_kefu.settings.rasa_url
    token = load_secrets(running_kefu.settings).rasa_token
    before = running_model(url, token)
    new_model = tmp_path / "kefu-hotswap.tar.gz"
    shutil.copy(running_kefu.model, new_model)
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def customer(number: int) -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                replies = post(running_kefu, f"live-{number}", "我家电视没信号了")
                if not replies:
                    failures.append("no reply")
                answered += 1
            except Exception as exc:  # noqa: BLE001 - any failure is what we count
                failures.append(repr(exc))
            # A customer's pace, a message a second each: the worker answers them while it loads the model
            # (bot/swap_off_loop.py), and back-to-back turns from all three would slow that load for nothing.
            stop.wait(1)

    customers = [threading.Thread(target=customer, args=(n,)) for n in range(3)]
    for thread in customers:
        thread.start()
    try:
        hot_swap(url, new_model, token=token)
    finally:
        stop.set()
        for thread in customers:
            thread.join()
    assert running_model(url, token).endswith("kefu-hotswap.tar.gz") and before != running_model(url, token)
    assert failures == []
    assert answered > 0
    hot_swap(url, running_kefu.model, token=token)


@pytest.mark.slow
def test_customers_are_answered_while_the_server_loads_a_new_model(running_kefu, tmp_path):
    """Found in CI: a message sent while ``kefu train`` hot-swapped a model waited for the whole load
    (62 s on a busy machine) and the client gave up at 60 s: Rasa loads the model on the worker's only
    event loop (bot/swap_off_loop.py). Here the load cannot end until the test lets it: the model
    file is a named pipe nobody has written yet, so the turn must be answered during the load."""
    url = running_kefu.settings.rasa_url
    token = load_secrets(running_kefu.settings).rasa_token
    before = running_model(url, token)
    folder = tmp_path / "publishing"
    folder.mkdir()
    pipe = folder / "kefu-arriving.tar.gz"  # Rasa loads the newest *.tar.gz of a folder: this one
    os.mkfifo(pipe)
    refused: list[Exception] = []

    def publish() -> None:
        try:
            hot_swap(url, folder, token=token)
        except PublishError as exc:
            refused.append(exc)

    swap = threading.Thread(target=publish)
    swap.start()
    # The server has opened the model file, so the load is under way; it reads nothing until we write.
    writer = wait_for(lambda: os.open(pipe, os.O_WRONLY | os.O_NONBLOCK), 120, "the server opening the model file")
    try:
        replies = post(running_kefu, "during-load", "我家电视没信号了")
        assert replies, "no reply during the load"
        assert swap.is_alive(), "the load ended before the customer was answered"
    finally:
        os.close(writer)  # an empty file: the load fails, the server keeps its model
        swap.join(120)
    assert not swap.is_alive() and len(refused) == 1 and "(400)" in str(refused[0]), refused
    assert running_model(url, token) == before
    assert post(running_kefu, "after-failed-load", "我家电视没信号了")


def test_publish_log_says_who_when_and_what_changed(project, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR", "小王")
    get_settings.cache_clear()
    settings = get_settings()
    first = record_publish(settings, "model")
    assert first["who"] == "小王" and "content/selfhelp.yml" in first["changed"]
    edit(project / "content" / "selfhelp.yml", "title: 画面出现马赛克、卡顿", "title: 画面出现马赛克或卡顿")
    second = record_publish(settings, "content")
    assert second["changed"] == ["content/selfhelp.yml"]
    log = [json.loads(line) for line in (settings.data_dir / "publish" / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [entry["what"] for entry in log] == ["model", "content"]
    assert log[1]["at"] >= log[0]["at"]


def test_first_publish_after_kefu_run_lists_only_the_editors_files(project):
    """Found by an editor: the first publish of an install listed all 77 editor-owned files as changed."""
    settings = get_settings()
    record_baseline(settings)  # what `kefu run` does when it first serves the install
    edit(project / "content" / "selfhelp.yml", "title: 画面出现马赛克、卡顿", "title: 画面出现马赛克或卡顿")
    record_baseline(settings)  # a later start keeps the first baseline
    assert record_publish(settings, "content")["changed"] == ["content/selfhelp.yml"]


def test_a_manifest_cut_short_does_not_stop_publishing(project):
    """Found in review: the manifest was rewritten in place, so a crash while writing it left half a
    JSON file, and every later publish, `kefu train` and start then failed on it (JSONDecodeError).
    It is now replaced whole; one already cut short counts every file as changed, once."""
    settings = get_settings()
    record_baseline(settings)
    manifest_file = settings.data_dir / "publish" / "manifest.json"
    manifest_file.write_text(manifest_file.read_text()[:40])  # what a crash mid-write left
    assert "content/selfhelp.yml" in unpublished_changes(settings)
    assert "content/selfhelp.yml" in record_publish(settings, "content")["changed"]
    assert unpublished_changes(settings) == [], "the publish wrote a whole manifest again"
    assert json.loads(manifest_file.read_text())["content/selfhelp.yml"]
    assert not list(manifest_file.parent.glob("*.part")), "no partial file left beside it"


def test_kefu_train_publishes_the_model_and_records_content_saved_live_though_nothing_trains(
        project, trained_model, monkeypatch, capsys):
    """Production: `kefu train` reached only its own machine's server; now it records the model, with its
    bytes, in the shared database, where every `kefu run` finds it (bot/model_follower.py).
    Found by an editor: catalogue edits go live on save, and `kefu train` then said "up to date" and
    logged nothing, so the publish log could not say who changed the catalogue."""
    import argparse

    from bot.db.model_store import ModelStore, file_sha256
    from bot.editor.commands import cmd_train
    from bot.embedded_redis import free_port
    from tests.conftest import PROJECT_ROOT

    monkeypatch.setenv("KEFU_EDITOR", "小王")
    monkeypatch.setenv("KEFU_MODELS_DIR", str(PROJECT_ROOT / "models"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))  # no server: the catalogue is live on save anyway
    get_settings.cache_clear()
    settings = get_settings()
    record_baseline(settings)
    assert cmd_train(argparse.Namespace()) == 0  # the deployment's first publish: the model
    assert f"published: {trained_model.name}" in capsys.readouterr().out
    current = ModelStore(settings.database_url).current()
    assert (current.name, current.sha256, current.published_by) == (trained_model.name, file_sha256(trained_model), "小王")
    edit(project / "content" / "selfhelp.yml", "title: 画面出现马赛克、卡顿", "title: 画面出现马赛克或卡顿")

    assert cmd_train(argparse.Namespace()) == 0
    assert "published already" in capsys.readouterr().out
    log = [json.loads(line) for line in (settings.data_dir / "publish" / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(entry["who"], entry["what"], entry["changed"]) for entry in log] == [
        ("小王", "model", []), ("小王", "content", ["content/selfhelp.yml"])]
    assert cmd_train(argparse.Namespace()) == 0  # nothing new: nothing logged
    assert len((settings.data_dir / "publish" / "log.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_changed_files_sees_additions_edits_and_removals():
    assert changed_files({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == ["a", "b", "c"]


def test_manifest_covers_editor_owned_files_only(project):
    files = manifest(project)
    assert "nlu_data/rules.yml" in files and "content/selfhelp.yml" in files
    assert not any(path.startswith("actions/") for path in files)


@pytest.mark.slow
def test_kefu_train_from_a_shell_without_the_servers_port_reaches_the_running_server(running_kefu, monkeypatch,
                                                                                     capsys):
    """Found by a tester: the server ran on KEFU_RASA_PORT=5105, the editor's shell had no such setting,
    and `kefu train` said "up to date" while the server kept serving the old model."""
    import argparse

    from bot.editor.commands import cmd_train
    from bot.embedded_redis import free_port

    url = running_kefu.settings.rasa_url
    monkeypatch.setenv("KEFU_DATA_DIR", str(running_kefu.settings.data_dir))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))  # the shell's own port: nothing answers there
    get_settings.cache_clear()
    try:
        assert cmd_train(argparse.Namespace()) == 0
    finally:
        get_settings.cache_clear()
    assert f"live: {url}" in capsys.readouterr().out
    assert running_model(url, load_secrets(running_kefu.settings).rasa_token).endswith(running_kefu.model.name)


def test_kefu_train_trains_nothing_when_the_files_change_while_it_checks_them(project, tmp_path, monkeypatch, capsys):
    """Two editors: one runs `kefu train`, the other saves a rule with an unknown action while it validates.
    The files validated were not the files trained: the unchecked rule went to every machine."""
    import argparse

    from bot.editor import validate as validate_module
    from bot.editor.commands import cmd_train
    from bot.embedded_redis import free_port
    from bot.published_model import open_store
    from tests.fake_training import use_fake_trainer

    monkeypatch.setenv("KEFU_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    get_settings.cache_clear()
    use_fake_trainer(monkeypatch)
    checked = validate_module.validate

    def validate_while_another_editor_saves(settings, **kwargs):
        problems = checked(settings, **kwargs)
        edit(project / "nlu_data" / "rules.yml", "{action: utter_greet}", "{action: utter_greeet}")
        return problems

    monkeypatch.setattr(validate_module, "validate", validate_while_another_editor_saves)
    assert cmd_train(argparse.Namespace()) == 1
    assert "changed" in capsys.readouterr().err
    assert open_store(get_settings(), upgrade=True).current() is None
    assert not list((tmp_path / "models").glob("kefu-*.tar.gz"))
    monkeypatch.setattr(validate_module, "validate", checked)
    assert cmd_train(argparse.Namespace()) == 1, "run again, it finds the saved mistake"
    assert "utter_greeet" in capsys.readouterr().out


def test_each_kefu_train_does_not_leave_another_model_on_the_disk_forever(project, tmp_path, monkeypatch, capsys):
    """Production: every publish of new examples left its 27 MB model in models/, none was ever deleted
    (the database keeps the last publications for rollback anyway)."""
    import argparse
    import time

    from bot.editor.commands import cmd_train
    from bot.embedded_redis import free_port
    from bot.published_model import KEEP_TRAINED, open_store
    from tests.fake_training import use_fake_trainer

    models = tmp_path / "models"
    models.mkdir()
    others = ["training-vectors.sqlite3", "nlu-heldout-0123456789abcdef.tar.gz", "my-own-export.tar.gz"]
    for name in others:
        (models / name).write_bytes(b"not kefu's trained model")
    earlier = [models / f"kefu-{index:016x}.tar.gz" for index in range(6)]
    for age, model in enumerate(reversed(earlier), start=1):
        model.write_bytes(b"an earlier model")
        os.utime(model, (time.time() - 3600 * age, time.time() - 3600 * age))
    monkeypatch.setenv("KEFU_MODELS_DIR", str(models))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    get_settings.cache_clear()
    use_fake_trainer(monkeypatch)
    published = []
    for change in ("你好呀", "您好呀"):
        edit(project / "nlu_data" / "nlu" / "chitchat.yml", "- intent: greet\n  examples: |\n",
             f"- intent: greet\n  examples: |\n    - {change}{change}\n")
        assert cmd_train(argparse.Namespace()) == 0
        published.append(open_store(get_settings()).current().name)
    # the published model, and the newest others (the one published before it first: a quick rollback)
    assert sorted(p.name for p in models.glob("kefu-*.tar.gz")) == sorted(
        [published[1], published[0], earlier[5].name, earlier[4].name][:KEEP_TRAINED + 1])
    assert all((models / name).exists() for name in others), "only Kefu's own trained models are deleted"


def test_a_kefu_train_that_finishes_last_does_not_silently_replace_a_model_published_meanwhile(
        project, tmp_path, monkeypatch, capsys):
    """Two editors: the one whose training ran longer published last, over the other's newer examples,
    and neither was told: every machine served the older model."""
    import argparse

    from bot.editor.commands import cmd_train
    from bot.embedded_redis import free_port
    from bot.published_model import open_store
    from tests.fake_training import use_fake_trainer

    monkeypatch.setenv("KEFU_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_EDITOR", "小王")
    get_settings.cache_clear()
    use_fake_trainer(monkeypatch, publish_meanwhile=True)
    edit(project / "nlu_data" / "nlu" / "chitchat.yml", "- intent: greet\n  examples: |\n",
         "- intent: greet\n  examples: |\n    - 你好呀你好呀\n")
    assert cmd_train(argparse.Namespace()) == 1
    err = capsys.readouterr().err
    assert "kefu-0123456789abcdef.tar.gz" in err and "run `kefu train` again" in err, err
    store = open_store(get_settings())
    assert store.current().name == "kefu-0123456789abcdef.tar.gz", "the other editor's model stays published"
    use_fake_trainer(monkeypatch)
    assert cmd_train(argparse.Namespace()) == 0, "asked again, with nothing published meanwhile, it publishes"
    assert "up to date" in capsys.readouterr().out
    assert store.current().published_by == "小王" and store.current().name != "kefu-0123456789abcdef.tar.gz"


def test_the_publish_log_lists_content_saved_in_the_configured_content_folder(project, tmp_path, monkeypatch):
    """KEFU_CONTENT_DIR / KEFU_IVR_FLOWS_DIR (the README's settings table) name where the bot reads the
    editors' files; the publish log looked in the checkout's content/ and ivr_flows/ only, so `kefu train`
    recorded none of the catalogue or flow edits the bot had gone live with."""
    content, flows = tmp_path / "live-content", tmp_path / "live-flows"
    shutil.copytree(project / "content", content)
    shutil.copytree(project / "ivr_flows", flows)
    monkeypatch.setenv("KEFU_CONTENT_DIR", str(content))
    monkeypatch.setenv("KEFU_IVR_FLOWS_DIR", str(flows))
    get_settings.cache_clear()
    settings = get_settings()
    record_baseline(settings)
    edit(content / "selfhelp.yml", "title: 画面出现马赛克、卡顿", "title: 画面出现马赛克或卡顿")
    edit(flows / "main.yml", "flow: main", "flow: main  # edited")
    assert record_publish(settings, "content")["changed"] == [str(content / "selfhelp.yml"), str(flows / "main.yml")]


def test_a_publish_whose_hot_swap_here_fails_is_still_in_the_publish_log(project, tmp_path, monkeypatch, capsys):
    """`kefu train` published the model (every machine switched to it) and then this machine's server
    refused the swap: the command stopped before logging, so the publish log had no entry for a model
    every customer was answered with, and the next editor's entry listed these files as theirs."""
    import argparse
    import http.server

    from bot.editor.commands import cmd_train
    from bot.published_model import open_store
    from tests.fake_training import use_fake_trainer

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps({"model_file": "/srv/models/kefu-0000000000000000.tar.gz"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("KEFU_MODELS_DIR", str(tmp_path / "models"))
        monkeypatch.setenv("KEFU_RASA_PORT", str(server.server_address[1]))
        monkeypatch.setenv("KEFU_WORKERS", "1")
        monkeypatch.setenv("KEFU_EDITOR", "小王")
        get_settings.cache_clear()
        use_fake_trainer(monkeypatch)
        edit(project / "content" / "selfhelp.yml", "title: 画面出现马赛克、卡顿", "title: 画面出现马赛克或卡顿")
        assert cmd_train(argparse.Namespace()) == 1
        assert "keeps its model for now" in capsys.readouterr().err
    finally:
        server.shutdown()
    published = open_store(get_settings()).current()
    log = [json.loads(line) for line in
           (get_settings().data_dir / "publish" / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["who"], e["model"], e["hot_swapped"]) for e in log] == [("小王", published.name, False)]
    assert "content/selfhelp.yml" in log[0]["changed"]
