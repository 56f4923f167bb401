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
