"""A Kefu stack of the fault tests' own (embedded Redis, own database), so they may break it."""
from __future__ import annotations

import os

import pytest

from bot import settings as settings_module
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def fault_stack(trained_model, tmp_path_factory):
    from bot.embedded_redis import free_port
    from bot.stack import KefuStack
    from tests.channels.stack_env import WECHAT_TOKEN
    from tests.ivr.stack_env import ivr_environment

    data_dir = tmp_path_factory.mktemp("fault-stack")
    env = dict(os.environ)
    for name in ("REDIS_URL", "KEFU_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "WECHAT_AES_KEY"):
        env.pop(name, None)
    env.update(KEFU_DATA_DIR=str(data_dir), KEFU_RASA_PORT=str(free_port()), KEFU_ACTION_PORT=str(free_port()),
               KEFU_REDIS_PORT=str(free_port()), WECHAT_TOKEN=WECHAT_TOKEN,
               KEFU_WORKERS="2")  # two Rasa workers: one can die while the other serves
    env.update(ivr_environment(data_dir, PROJECT_ROOT, env))
    stack = KefuStack(settings_module.from_environment(env), model=trained_model)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def domain_texts() -> dict:
    """What the bot says, by response name (the tests compare against the editors' texts, not copies)."""
    import yaml

    texts: dict[str, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in (yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {}).items():
            texts.setdefault(name, []).extend(v.get("text", "") for v in variants)
    return texts
