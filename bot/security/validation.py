"""`kefu validate` for ``content/verification.yml``: a readable file, known levels, known requests."""
from __future__ import annotations

from bot.editor.problems import WARNING, Problem
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
    gated = gated_requests()
    problems = [Problem(str(path), None, f"`{name}` is neither an intent nor a request an action answers")
                for name in sorted(set(policy.requests) - set(domain.intents) - gated)]
    # Found by a tester: levels set for these changed nothing, and validate said nothing.
    problems += [Problem(str(path), None, f"`{name}`: its answer never reads a level (it is for anyone and shows "
                         f"no account's data); only these requests do: {', '.join(sorted(gated))}", WARNING)
                 for name in sorted(set(policy.requests) & set(domain.intents) - gated)]
    problems += [Problem(str(path), None, f"`{name}: public` acts as `identified`: the request is filed on an "
                         "account, so the customer's number is still asked for", WARNING)
                 for name, level in sorted(policy.requests.items()) if name in gated and level == "public"]
    return problems
