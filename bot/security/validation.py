"""`kefu validate` for ``content/verification.yml``: a readable file, known levels, known requests."""
from __future__ import annotations

from bot.editor.problems import Problem
from bot.security.policy import POLICY_FILE, PolicyError, parse_policy


def gated_requests() -> set[str]:
    """The request names the account actions answer (``IdentifiedAction.request``)."""
    from actions.chain import _concrete_actions
    from actions.identity import IdentifiedAction

    return {cls.request for cls in _concrete_actions(IdentifiedAction) if cls.request}


def policy_problems(settings, domain) -> list[Problem]:
    path = settings.content_dir / POLICY_FILE
    try:
        policy = parse_policy(path)
    except PolicyError as exc:
        return [Problem(str(path), None, str(exc))]
    known = set(domain.intents) | gated_requests()
    return [Problem(str(path), None, f"`{name}` is neither an intent nor a request an action answers")
            for name in sorted(set(policy.requests) - known)]
