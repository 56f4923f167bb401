"""Which requests need what proof: the editors' ``content/verification.yml``, re-read on change."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def parse_policy(path: Path) -> VerificationPolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    requests = data.get("requests") or {}
    if not isinstance(requests, dict):
        raise PolicyError(f"{path}: `requests` must map request names to a level")
    unknown = {name: level for name, level in requests.items() if level not in LEVELS}
    if unknown:
        raise PolicyError(f"{path}: unknown levels {unknown}; use one of {', '.join(LEVELS)}")
    text = str(data.get("sms_code_text") or "")
    if "{code}" not in text:
        raise PolicyError(f"{path}: `sms_code_text` must contain {{code}}")
    return VerificationPolicy({str(k): str(v) for k, v in requests.items()}, text)


_snapshot: dict[tuple[Path, float], VerificationPolicy] = {}


def load_policy(content_dir: Path) -> VerificationPolicy:
    """The current policy; a broken save keeps the last good one (and says why in the log)."""
    path = content_dir / POLICY_FILE
    mtime = path.stat().st_mtime
    if (path, mtime) in _snapshot:
        return _snapshot[(path, mtime)]
    try:
        policy = parse_policy(path)
    except PolicyError as exc:
        last_good = next((p for (where, _), p in _snapshot.items() if where == path), None)
        if last_good is None:
            raise
        logger.error("security.policy.invalid %s", exc)
        return last_good
    for key in [k for k in _snapshot if k[0] == path]:
        del _snapshot[key]
    _snapshot[(path, mtime)] = policy
    return policy
