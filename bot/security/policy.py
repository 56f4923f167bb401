"""Which requests need what proof: the editors' ``content/verification.yml``, re-read on change."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.security.otp import CODE_DIGITS
from bot.snapshot import editor_file
from bot.yaml_load import safe_load

logger = logging.getLogger(__name__)

LEVELS = ("public", "identified", "verified")
POLICY_FILE = "verification.yml"


class PolicyError(ValueError):
    """The verification file is unreadable or names an unknown level."""


@dataclass(frozen=True)
class VerificationPolicy:
    requests: dict[str, str] = field(default_factory=dict)
    sms_code_text: str = ""

    def level(self, request: str) -> str:
        """A request nobody listed needs the strongest proof."""
        return self.requests.get(request, "verified")


SAMPLE_CODE = "0" * CODE_DIGITS  # a code as long as those sent, to fill and measure the code's text with
# {code} or {minutes} typed with a Chinese input method's braces (｛｝): no placeholder, sent as written.
WIDE_PLACEHOLDER = re.compile(r"[{｛]\s*(code|minutes)\s*[}｝]")


def mistakes(data) -> list[tuple[str | None, str]]:
    """Every mistake in the parsed file, each with the key it is at (a request name or a top-level key)."""
    if not isinstance(data, dict):
        return [(None, "the file must map `requests` and `sms_code_text`")]
    requests = data.get("requests") or {}
    if not isinstance(requests, dict):
        return [("requests", "`requests` must map request names to a level")]
    found = [(str(name), f"`{name}: {level}` is not a level; use one of {', '.join(LEVELS)}")
             for name, level in requests.items() if level not in LEVELS]
    text = str(data.get("sms_code_text") or "")
    wide = next((m for m in WIDE_PLACEHOLDER.finditer(text) if not m.group(0).startswith("{") or
                 not m.group(0).endswith("}")), None)
    if wide is not None:
        found.append(("sms_code_text", f"`sms_code_text` writes {wide.group(0)} with full-width braces, which the "
                                       f"customer would read as written: write {{{wide.group(1)}}}"))
    elif "{code}" not in text:
        found.append(("sms_code_text", "`sms_code_text` must contain {code}"))
    elif (why := unfillable(text)) is not None:
        found.append(("sms_code_text", f"`sms_code_text` {why}"))
    return found


def code_text(template: str, code: str, ttl_s: int) -> str:
    """The code's SMS as the customer gets it (actions/identity.py sends it)."""
    return template.format(code=code, minutes=ttl_s // 60)


def unfillable(template: str) -> str | None:
    """Why ``template`` cannot be filled when a code is sent (a placeholder other than {code} and {minutes},
    an unpaired brace: the sending failed for every customer), or None."""
    try:
        code_text(template, SAMPLE_CODE, 60)  # ``{code[5]}`` fills
    except KeyError as exc:
        return f"names {{{exc.args[0]}}}: only {{code}} and {{minutes}} are filled in"
    except (ValueError, IndexError, TypeError, AttributeError) as exc:  # {minutes[0]}, {code.value}
        return f"cannot be filled in ({exc}): write only {{code}} and {{minutes}} in braces"
    return None


def parse_policy(path: Path) -> VerificationPolicy:
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    found = mistakes(data)
    if found:
        raise PolicyError(f"{path}: " + "; ".join(message for _, message in found))
    return VerificationPolicy({str(k): str(v) for k, v in data["requests"].items()}, str(data["sms_code_text"]))


def load_policy(content_dir: Path) -> VerificationPolicy:
    """The current policy; a broken save keeps the last good one (and says why in the log: bot/snapshot.py)."""
    return editor_file(content_dir / POLICY_FILE, parse_policy, (PolicyError,)).get()
