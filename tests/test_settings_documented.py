"""Every environment variable Kefu reads is in README's settings table (deployer's finding 10:
KEFU_DATA_DIR, KEFU_SMS_GATEWAY_KEY, WECHAT_TEMPLATE_ID and a dozen more were read by
bot/settings.py and named nowhere, so an operator could not know a second instance needs its own
data dir). Found by reading the code: a variable added without its row fails here."""
from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT

READS = re.compile(r"""(?:env(?:iron)?\.get|getenv|environ|(?:whole|number|port|_switch|choice)\(env,\s*)\(?\[?["']([A-Z][A-Z0-9_]{2,})["']""")
# Set by Kefu for its own children, not an operator's setting.
INTERNAL = {"SANIC_WORKERS", "ACTION_SERVER_SANIC_WORKERS", "TF_CPP_MIN_LOG_LEVEL"}


def settings_table() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("Settings come from the environment")
    return readme[start:readme.index("\n## ", start)]


def test_every_variable_kefu_reads_is_in_the_settings_table():
    read = set()
    for folder in ("bot", "actions", "voice"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            read |= set(READS.findall(path.read_text(encoding="utf-8")))
    assert {"KEFU_DATA_DIR", "KEFU_SMS_GATEWAY_KEY", "KEFU_DEMO_DATA", "KEFU_RASA_PORT", "KEFU_LOG_MAX_MB", "KEFU_DEMO_CARRIER"} <= read  # the scan finds them
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", settings_table()))
    assert sorted(read - INTERNAL - documented) == []
