"""`kefu validate` for ``content/verification.yml``: a readable file, known levels, known requests."""
from __future__ import annotations

from bot.editor import yaml_lines
from bot.editor.problems import WARNING, Problem
from bot.outbound.sms import too_long_for_sms
from bot.security.policy import POLICY_FILE, SAMPLE_CODE, code_text, mistakes


def gated_requests() -> set[str]:
    """The request names the account actions answer (``IdentifiedAction.request``)."""
    from actions.chain import _concrete_actions
    from actions.identity import IdentifiedAction

    return {cls.request for cls in _concrete_actions(IdentifiedAction) if cls.request}


def policy_problems(settings, domain) -> list[Problem]:
    """Every mistake at its line (found by an editor: one error at a time, no line, the path twice)."""
    path = settings.content_dir / POLICY_FILE
    try:
        data = yaml_lines.load(path) or {}
    except yaml_lines.YamlFileError as exc:
        return [Problem(str(path), exc.line, exc.message)]
    found = mistakes(data)
    requests = data.get("requests") if isinstance(data, dict) else None

    def at(key):
        return yaml_lines.line_of(requests, key) if isinstance(requests, dict) and key in requests else yaml_lines.line_of(data, key)

    problems = [Problem(str(path), at(key), message) for key, message in found]
    if isinstance(data, dict) and all(key != "sms_code_text" for key, _ in found):  # its SMS, as long as it gets
        sent = code_text(str(data["sms_code_text"]), SAMPLE_CODE, settings.otp_ttl_s)
        if why := too_long_for_sms(sent):
            problems.append(Problem(str(path), at("sms_code_text"), f"`sms_code_text`: {why}"))
    if not isinstance(requests, dict):
        return problems
    gated = gated_requests()
    problems += [Problem(str(path), at(name), f"`{name}` is neither an intent nor a request an action answers")
                 for name in sorted(set(requests) - set(domain.intents) - gated)]
    # Found by a tester: levels set for these changed nothing, and validate said nothing.
    problems += [Problem(str(path), at(name), f"`{name}`: its answer never reads a level (it is for anyone and shows "
                         f"no account's data); only these requests do: {', '.join(sorted(gated))}", WARNING)
                 for name in sorted(set(requests) & set(domain.intents) - gated)]
    problems += [Problem(str(path), at(name), f"`{name}: public` acts as `identified`: the request is filed on an "
                         "account, so the customer's number is still asked for", WARNING)
                 for name, level in sorted(requests.items()) if name in gated and level == "public"]
    return problems
