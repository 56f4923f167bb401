"""Training happens only when the training data changed (content hash)."""
from __future__ import annotations

import shutil

from bot.training import COMPONENTS, content_hash, ensure_model, model_path
from tests.conftest import PROJECT_ROOT


def copy_project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "config.yml", root)
    shutil.copytree(PROJECT_ROOT / "domain", root / "domain")
    shutil.copytree(PROJECT_ROOT / "nlu_data", root / "nlu_data")
    return root


def test_hash_changes_with_training_data_only(tmp_path):
    root = copy_project(tmp_path)
    before = content_hash(root)
    (root / "README.md").write_text("not training data")
    assert content_hash(root) == before
    rules = root / "nlu_data" / "rules.yml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert content_hash(root) != before


def test_existing_model_for_the_same_data_is_reused(tmp_path):
    root = copy_project(tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    existing = model_path(root, models)
    existing.write_bytes(b"a model trained earlier")
    assert ensure_model(root, models) == (existing, False)


def test_hash_changes_with_the_pipelines_own_components(tmp_path):
    root = copy_project(tmp_path)
    assert content_hash(root) == content_hash(PROJECT_ROOT)  # a copy of the files finds the same model
    components = tmp_path / "components"
    shutil.copytree(COMPONENTS, components, ignore=shutil.ignore_patterns("__pycache__"))
    before = content_hash(root, components=components)
    assert before == content_hash(root)
    (components / "__pycache__").mkdir()
    (components / "__pycache__" / "stale.cpython-310.pyc").write_bytes(b"compiled elsewhere")
    assert content_hash(root, components=components) == before
    component = components / "blended_intents.py"
    component.write_text(component.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert content_hash(root, components=components) != before


def test_rasas_training_cache_does_not_restore_a_component_whose_helper_code_changed(tmp_path, monkeypatch):
    """Rasa keys its cache on a component's class source; E5's encoder lives outside the class."""
    from rasa.engine.training.fingerprinting import calculate_fingerprint_key

    from bot.nlu import code_fingerprint
    from bot.nlu.second_reading import SecondReadingClassifier

    components = tmp_path / "components"
    shutil.copytree(COMPONENTS, components, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_fingerprint, "COMPONENTS", components)
    code_fingerprint.components_code.cache_clear()
    try:
        before = calculate_fingerprint_key(SecondReadingClassifier, {}, {})
        encoder = components / "e5_encoder.py"
        code = encoder.read_text(encoding="utf-8")
        assert "encoder().query(batch)" in code
        encoder.write_text(code.replace("encoder().query(batch)", "encoder().passage(batch)"), encoding="utf-8")
        code_fingerprint.components_code.cache_clear()
        assert calculate_fingerprint_key(SecondReadingClassifier, {}, {}) != before
    finally:
        code_fingerprint.components_code.cache_clear()


def test_a_model_is_trained_on_the_files_its_name_hashes_though_an_editor_saves_meanwhile(tmp_path, monkeypatch):
    """Two editors: one runs `kefu train`, the other saves rules.yml while it trains. The model was named
    after the files before the save but trained on the files after it, so a checkout with the first
    files (the second editor reverting) later served, as "up to date", a model holding the reverted rules."""
    from tests.fake_training import SAVED_MEANWHILE, trained_rules, use_fake_trainer

    root = copy_project(tmp_path)
    rules = root / "nlu_data" / "rules.yml"
    before, hashed = rules.read_text(encoding="utf-8"), content_hash(root)
    use_fake_trainer(monkeypatch, edit=rules)
    model, trained = ensure_model(root, tmp_path / "models")
    assert trained and rules.read_text(encoding="utf-8") == before + SAVED_MEANWHILE
    assert model.name == f"kefu-{hashed}.tar.gz"
    assert trained_rules(model) == before


def test_a_training_that_stops_while_writing_its_model_leaves_no_model_behind(tmp_path, monkeypatch):
    """rasa train writes the archive at the model's own name: killed (or out of memory) while writing it,
    it left half an archive there, and every later `kefu train` and `kefu run` took it for the trained
    model ("up to date") and published or served it."""
    import subprocess

    import pytest

    from tests.fake_training import trained_rules, use_fake_trainer

    root = copy_project(tmp_path)
    models = tmp_path / "models"
    use_fake_trainer(monkeypatch, die_half_way=True)
    with pytest.raises(subprocess.CalledProcessError):
        ensure_model(root, models)
    assert not model_path(root, models).exists()
    assert [p.name for p in models.iterdir()] == [], "nothing half-written is left in the models folder"
    use_fake_trainer(monkeypatch)
    model, trained = ensure_model(root, models)
    assert trained and trained_rules(model) == (root / "nlu_data" / "rules.yml").read_text(encoding="utf-8")


def test_a_killed_trainings_half_written_archive_is_deleted_once_stale(tmp_path):
    """A training killed outright (SIGKILL) leaves its .partial archive, 27 MB each, for ever; a live one
    (here or on another machine sharing the folder) is young and kept."""
    import os

    from bot.training import STALE_PARTIAL_S, drop_stale_partials

    killed, running = tmp_path / ".partial-4242-kefu-aaaa.tar.gz", tmp_path / ".partial-77-kefu-bbbb.tar.gz"
    for partial in (killed, running):
        partial.write_bytes(b"half an archive")
    now = killed.stat().st_mtime
    os.utime(killed, (now - STALE_PARTIAL_S - 60, now - STALE_PARTIAL_S - 60))
    drop_stale_partials(tmp_path, now=now)
    assert not killed.exists() and running.exists()
