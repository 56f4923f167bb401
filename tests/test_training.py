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
