"""Who sends each domain reply, and with which values: read from the code that sends it.

A reply is filled with the slots and the values its sender passes (Rasa's templated NLG), so a
placeholder some other code passes to some other reply is not filled in this one. The senders
recognised are the ways Kefu's code says a reply by name:

- ``dispatcher.utter_message(response="utter_x", name=…)`` (rasa-sdk): slots and the keywords;
- ``conversations.utter|join|resume|hand_over(id, "utter_x", name=…)`` and ``ask_once(id, "utter_x", slot)``
  (``bot.handoff.conversations``, through Rasa's NLG): slots and the keywords;
- ``_canned(request, "utter_x")`` / ``_canned_messages`` (the WeChat channel's own answers) and
  ``response_for`` / ``apologise`` (``bot.observability.rasa_guards``: the apologies when a part is
  down): the text as written, nothing filled.

- ``note_words(queue, id, reason, "utter_x", name=…)`` / ``close_words(entry, "utter_x", name=…)``
  (``bot.handoff.handback``: said through Rasa's NLG when the handoff ends): slots and the keywords.
- a message written in place, ``{"response": "utter_x", "title": …}`` (rasa-sdk's shape, sent whole:
  ``utter_message(**message)``): slots and the message's other keys.

The reply's name may be written as a string, ``a if c else b``, an f-string (matched against every
reply it can name), a module constant used only there, or a name of the function assigned once whose every
read is a sender's reply (``response = "utter_a" if c else "utter_b"``); ``**values`` counts when ``values`` is a
dictionary written in place in the same function (``{…} if c else {}``); chosen by the condition that
chose the reply (``"utter_a" if c else "utter_b"``, ``c`` read from names assigned once), its side's keys
are that reply's only. A class attribute naming a reply (``acknowledgement = "utter_ack_repair"``) is sent by
the senders of ``self.acknowledgement``, with what they pass, when every read of that attribute anywhere is one of
them or only looks it up (:func:`attribute_senders`). A name compared as written (``last_said(tracker) ==
"utter_ask_service_action"``) is a lookup, sending nothing. A module constant imported and sent by another module
(``from actions.visits import ASK_TIME_AGAIN``; ``utter_message(response=ASK_TIME_AGAIN)``) is sent by those senders
when they are every read there that may send it. A call of a function that says
the reply its caller names (``recorded(…, "utter_new_install_recorded", **values)``) is a sender too
(``bot.editor.reply_helpers``). A reply whose name appears
anywhere else in the code (a constant passed around, a tuple, any other call — but not a read that only looks
it up, ``said in PROOF_PROMPTS``, ``last_said(tracker) == OFFER``, ``just_asked(tracker, *BOOK_QUESTIONS)``:
``bot.editor.reply_reads``), in a sender given values
it cannot read (``**marker(channel)``, a dictionary built elsewhere), or in a content file, is *not
determined*: who sends it and with what is not known, and the caller falls back to every name the code
passes anywhere (no false refusals). Such a name leaves undetermined every reply it begins (it may be the start
of one the code builds), but for one a function returns as written (``return "utter_ask_selfhelp_worked"``): that
reply only. A function returning reply names its callers send is read by ``bot.editor.reply_functions``.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, replace

# method name -> (where the reply's name is: keyword or positional index, fills slots and keywords)
SENDERS = {
    "utter_message": ("response", True),
    "utter": (1, True), "join": (1, True), "resume": (1, True), "hand_over": (1, True), "ask_once": (1, True),
    "_canned": (1, False), "_canned_messages": (1, False),
    "response_for": (1, False), "apologise": (2, False),
    # bot.handoff.handback: words noted now, said through Rasa's NLG when the handoff ends (slots and values)
    "note_words": (3, True), "close_words": (1, True),
}
# Keywords of bot.handoff.conversations' senders that say how, not what: nothing of the reply's.
HOW = frozenset({"once", "still_owed", "if_paused", "before"})
MESSAGE_REPLY = "response"  # rasa-sdk's message key naming its reply: the message's other keys fill it
TAG = "utter_action"  # the metadata key naming what a message said: a reply's name there sends nothing
PREFIX = "utter_"  # Rasa's rule for a response's name


@dataclass(frozen=True)
class Sender:
    pattern: str  # a regex the reply's name fully matches
    where: str  # "file:line"
    names: frozenset[str] | None  # the keywords it passes; None: not known (``**values``)
    fills_slots: bool
    through: str = ""  # "file:line" of the send in the function called (``bot.editor.reply_helpers``)


@dataclass(frozen=True)
class ModuleSends:
    senders: tuple[Sender, ...]
    loose: tuple[str, ...]  # regexes (prefix match) of reply names written elsewhere in the module
    # module constants naming a reply used only by its senders here: loose too if another module names them
    constants: tuple[tuple[str, str], ...]
    # module-level collections of reply names (``PASSED = frozenset({"utter_identified"})``): of the names
    # looked up in them only (``said in PASSED``, here and in every module), sending nothing; loose otherwise
    members: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # class attributes naming a reply (``acknowledgement = "utter_ack_repair"``): (attribute, regex, "file:line");
    # sent by the senders of ``self.<attribute>`` (anywhere) when every read of that attribute sends or looks it up
    attributes: tuple[tuple[str, str, str], ...] = ()
    attribute_sends: tuple[tuple[str, Sender], ...] = ()  # senders of ``self.<attribute>``, their pattern empty
    # senders of a name imported from another module (``from actions.visits import ASK_TIME_AGAIN``):
    # (that module's label, the name there, the sender with its pattern empty)
    imported_sends: tuple[tuple[str, str, Sender], ...] = ()
    # regexes of reply names a function returns as written (``return "utter_ask_selfhelp_worked"``), matched
    # whole: its caller gets that name, not the start of one to build (as a prefix it loosened every longer name)
    whole: tuple[str, ...] = ()
    # functions returning reply names whose every call here is sent or tested (``bot.editor.reply_functions``):
    # (function, regexes of the names it returns); loose if another module does more with a call of it than test it
    returners: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # every reply name the module holds whole, however it is read (:func:`held_names`): (name, "file:line")
    held: tuple[tuple[str, str], ...] = ()


def _pattern(node: ast.AST) -> str | None:
    """The regex of the reply names an expression can be, when it is a string built in place."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _pattern_of_text(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (left := _pattern(node.left)) is not None:
        return left + ".+"
    return None


def _pattern_of_text(text: str) -> str:
    """A name, or a template of one ("utter_%s", "utter_{}"): any filled part matches anything."""
    return ".+".join(re.escape(part) for part in re.split(r"\{[^{}]*\}|%[sdr]", text))


Branch = tuple[tuple[str, bool], ...]  # the conditions (``ast.dump`` of each test, its side) a reply's name is chosen by


def _keyword_names(call: ast.Call, local: dict[str, list[ast.AST]], branch: Branch = ()) -> frozenset[str] | None:
    """The names a call passes: its keywords, and the keys of ``**{…}`` or of ``**values`` where
    ``values`` is a dictionary written in place in the same function (``local``: its assignments);
    None when a ``**`` gives names that cannot be read. ``branch``: the side of each condition the reply's
    name was chosen by, which a dictionary chosen by the same condition (``{…} if c else {}``) is on too."""
    names: set[str] = set()
    for keyword in call.keywords:
        if keyword.arg is not None:
            names.add(keyword.arg)
            continue
        keys = _dict_keys(keyword.value, local, branch=branch)
        if keys is None:
            return None
        names |= keys
    return frozenset(names - HOW)


def _dict_keys(node: ast.AST, local: dict[str, list[ast.AST]], seen: frozenset[str] = frozenset(),
               branch: Branch = ()) -> set[str] | None:
    if isinstance(node, ast.IfExp):
        side = dict(branch).get(ast.dump(node.test)) if _fixed(node.test, local) else None
        if side is not None:  # the condition the reply was chosen by: the values of that side only
            return _dict_keys(node.body if side else node.orelse, local, seen, branch)
        body, orelse = _dict_keys(node.body, local, seen, branch), _dict_keys(node.orelse, local, seen, branch)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Dict):
        if all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
            return {k.value for k in node.keys}
        return None
    if isinstance(node, ast.Name) and node.id in local and node.id not in seen:
        keys: set[str] = set()
        for value in local[node.id]:
            found = _dict_keys(value, local, seen | {node.id}, branch)
            if found is None:
                return None
            keys |= found
        return keys
    return None


def _assignments(tree: ast.Module) -> dict[int, dict[str, list[ast.AST]]]:
    """For each call, the plain assignments (``name = value``) of its innermost function, by name; a
    name bound any other way there (a loop, ``+=``, an argument) has no readable value."""
    scopes: dict[int, dict[str, list[ast.AST]]] = {}
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in functions:  # ast.walk goes outside in: an inner function's calls are its own at the end
        nodes = list(ast.walk(function))
        local: dict[str, list[ast.AST]] = {}
        simple = set()
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                local.setdefault(node.targets[0].id, []).append(node.value)
                simple.add(id(node.targets[0]))
        unreadable = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        unreadable |= {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
                       and id(node) not in simple}
        for name in unreadable:
            local.pop(name, None)
        for node in nodes:
            if isinstance(node, ast.Call):
                scopes[id(node)] = local
    return scopes


def _function_loads(tree: ast.Module, scopes: dict[int, dict[str, list[ast.AST]]]) -> dict[int, dict[str, int]]:
    """For each function (by the id of its scope in ``scopes``, :func:`_assignments`), how often each name is
    read in it, its inner functions included (a closure reading it reads it too)."""
    loads: dict[int, dict[str, int]] = {}
    for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        inner = {id(n) for child in ast.walk(function) if child is not function
                 and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for n in ast.walk(child)}
        own = next((n for n in ast.walk(function) if isinstance(n, ast.Call) and id(n) not in inner), None)
        if own is None or id(own) not in scopes:
            continue
        counted = loads.setdefault(id(scopes[id(own)]), {})
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                counted[node.id] = counted.get(node.id, 0) + 1
    return loads


def _fixed(test: ast.AST, local: dict[str, list[ast.AST]]) -> bool:
    """Whether a condition is the same wherever the function looks at it: it reads only names assigned
    once there (``local``), and calls nothing."""
    nodes = list(ast.walk(test))
    return not any(isinstance(n, (ast.Call, ast.NamedExpr, ast.Await)) for n in nodes) and all(
        len(local.get(n.id, ())) == 1 for n in nodes if isinstance(n, ast.Name))


def _name_expressions(node: ast.AST, branch: Branch = ()) -> list[tuple[ast.AST, Branch]]:
    """Each expression a reply's name may be (``a if c else b``: both), with the side of each condition
    it is chosen by."""
    if isinstance(node, ast.IfExp):
        test = ast.dump(node.test)
        return (_name_expressions(node.body, branch + ((test, True),))
                + _name_expressions(node.orelse, branch + ((test, False),)))
    return [(node, branch)]


@functools.lru_cache(maxsize=4096)
def parsed(source: str) -> ast.Module:
    """One module's tree, parsed once per text for every check reading it (parsing Kefu's modules is
    most of these checks' time). Read only, never changed."""
    return ast.parse(source)


@functools.lru_cache(maxsize=4096)
def module_sends(source: str, label: str, helpers: tuple = (), lookup=None) -> ModuleSends:
    """The senders of ``source`` (shown as ``label``) and the reply names it writes anywhere else.
    ``helpers``: the functions sending a reply their caller names (``bot.editor.reply_helpers``);
    ``lookup``: which reads only look a name up (``bot.editor.reply_reads.lookups``), else every read may send."""
    if PREFIX not in source:  # most modules: walking their trees was most of this check's time
        return ModuleSends((), (), ())
    tree = parsed(source)
    helper_of = {helper.function: helper for helper in helpers}
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 and node.value.value.startswith(PREFIX)}
    scopes: dict[int, dict[str, list[ast.AST]]] | None = None  # read when a sender passes **values
    senders: list[Sender] = []
    senders_found: list[tuple[ast.AST, Sender]] = []  # each with the expression naming its reply
    local_names: dict[tuple[int, str], list] = {}  # (function, name) -> [reads sending it, senders]
    consumed: set[int] = set()
    used_by_senders: dict[str, int] = {}
    attribute_sends: list[tuple[str, Sender]] = []
    imported_sends: list[tuple[str, str, Sender]] = []
    nodes = list(ast.walk(tree))  # walked once: walking is most of this check's time
    imported = _imported(tree, nodes)
    aliases = module_aliases(tree, nodes)  # a helper called, a constant sent, as m.name of a module imported as m
    from bot.editor.reply_functions import returners, senders_only

    returning = returners(tree)
    sent_calls: set[int] = set()  # calls of those functions a sender sends, and names assigned one that it sends
    sent_names: set[int] = set()
    for call in nodes:
        if not isinstance(call, ast.Call):
            continue
        method = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        # a helper by its own name (an attribute call may be another object's method of that name); not with
        # *args, which move the reply's argument: its name is then written elsewhere, as before
        if method in helper_of and (isinstance(call.func, ast.Name) or helper_of[method].label in aliases.get(
                dotted(call.func.value), ())) and not any(isinstance(a, ast.Starred) for a in call.args):
            scopes = _assignments(tree) if scopes is None else scopes
            senders_found += _helper_call(call, helper_of[method], constants, used_by_senders, label, scopes,
                                          (returning, sent_calls, sent_names), imported, imported_sends)
            continue
        if method not in SENDERS:
            continue
        where, fills_slots = SENDERS[method]
        if isinstance(where, str):
            named = next((k.value for k in call.keywords if k.arg == where), None)
        else:
            named = call.args[where] if len(call.args) > where else None
        if named is None:
            continue
        if scopes is None and any(k.arg is None and not isinstance(k.value, ast.Dict) for k in call.keywords):
            scopes = _assignments(tree)
        if isinstance(named, ast.Attribute) and isinstance(named.value, ast.Name) and named.value.id == "self":
            scopes = _assignments(tree) if scopes is None else scopes
            names = _keyword_names(call, scopes.get(id(call), {}))
            names = names - {where} if names is not None and isinstance(where, str) else names
            attribute_sends.append((named.attr, Sender("", f"{label}:{call.lineno}", names, fills_slots)))
            continue
        origins = ([imported[named.id]] if isinstance(named, ast.Name) and named.id in imported
                   else [(module, named.attr) for module in aliases.get(dotted(named.value), ())]
                   if isinstance(named, ast.Attribute) else [])
        if origins:  # another module's constant, if it is one (``ASK_TIME_AGAIN``, ``visits.ASK_TIME_AGAIN``)
            scopes = _assignments(tree) if scopes is None else scopes
            names = _keyword_names(call, scopes.get(id(call), {}))
            names = names - {where} if names is not None and isinstance(where, str) else names
            imported_sends += [(*origin, Sender("", f"{label}:{call.lineno}", names, fills_slots)) for origin in origins]
            continue
        if isinstance(named, ast.Name) and named.id not in constants:  # response = "utter_a" if c else "utter_b"
            scopes = _assignments(tree) if scopes is None else scopes
            values = scopes.get(id(call), {}).get(named.id, [])
            if len(values) != 1:
                continue
            if _returns_a_call(values[0], returning):  # question = open_question(tracker): sent here, tested elsewhere
                names = _keyword_names(call, scopes.get(id(call), {}))
                names = names - {where} if names is not None and isinstance(where, str) else names
                sent_names.add(id(named))
                senders_found += _returner_senders(values[0], returning, sent_calls, f"{label}:{call.lineno}",
                                                   names, fills_slots)
                continue
            held = local_names.setdefault((id(scopes[id(call)]), named.id), [0, []])
            held[0] += 1
            pending = held[1]
            named = values[0]
        else:
            pending = senders_found
        for expression, branch in _name_expressions(named):
            names = _keyword_names(call, (scopes or {}).get(id(call), {}), branch)
            names = names - {where} if names is not None and isinstance(where, str) else names
            if _returned_by(expression, returning) and pending is senders_found:  # not through a name: sent
                pending += _returner_senders(expression, returning, sent_calls, f"{label}:{call.lineno}", names,
                                             fills_slots)
                continue
            if isinstance(expression, ast.Name) and expression.id in constants:
                used_by_senders[expression.id] = used_by_senders.get(expression.id, 0) + 1
                pattern = _pattern(constants[expression.id])
            else:
                pattern = _pattern(expression)
            if pattern is None or not pattern.startswith(re.escape(PREFIX)):
                continue
            pending.append((expression, Sender(pattern, f"{label}:{call.lineno}", names, fills_slots)))
    for message in nodes:  # {"response": "utter_x", "title": …}: a message naming its reply, sent with its own values
        keys = [k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None
                for k in getattr(message, "keys", ())]
        if isinstance(message, ast.Dict) and MESSAGE_REPLY in keys and None not in keys:
            named = message.values[keys.index(MESSAGE_REPLY)]
            if (pattern := _pattern(named)) is not None and pattern.startswith(re.escape(PREFIX)):
                names = frozenset(keys) - {MESSAGE_REPLY}
                senders_found.append((named, Sender(pattern, f"{label}:{message.lineno}", names, True)))
    for function in tree.body:  # a helper's default reply is its callers' (bot.editor.reply_helpers)
        if getattr(function, "name", None) in helper_of and helper_of[function.name].label == label:
            consumed.update(id(n) for d in function.args.defaults for n in ast.walk(d))
            helper = helper_of[function.name]
            positional = [a.arg for a in function.args.posonlyargs + function.args.args]
            default = dict(zip(positional[len(positional) - len(function.args.defaults):], function.args.defaults))
            if isinstance(named := default.get(helper.parameter), ast.Name) and named.id in constants:
                used_by_senders[named.id] = used_by_senders.get(named.id, 0) + 1  # reply=CHASED: its callers'
    # a reply's name held in a local name is theirs only when every read of that name in its function sends it
    function_loads = _function_loads(tree, scopes) if local_names and scopes is not None else {}
    senders_found += [sent for (scope, name), (uses, found) in local_names.items()
                      if function_loads.get(scope, {}).get(name) == uses for sent in found]
    for expression, sender in senders_found:
        consumed.update(id(n) for n in (ast.walk(expression) if expression is not None else ()))
        senders.append(sender)
    if lookup is None:
        from bot.editor.reply_reads import lookups

        lookup = lookups((source,))
    private = []
    for name, value in constants.items():  # a constant used only by senders here (or looked up) is theirs
        if used_by_senders.get(name, 0) == lookup.sending_reads(source, name):  # and other modules' (senders_of)
            consumed.add(id(value))
            private.append((name, _pattern(value)))
    members = []
    for name, elements in _collections(tree).items():
        patterns = tuple(p for e in elements if (p := _pattern(e)) is not None and p.startswith(re.escape(PREFIX)))
        if patterns:
            consumed.update(id(e) for e in elements)
            members.append((name, patterns))
    for compare in nodes:  # a name compared as written ("utter_x" == last_said(tracker)) is looked up, never sent
        if isinstance(compare, ast.Compare):
            for side in [compare.left, *compare.comparators]:
                consumed.update(id(e) for e in (side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side])
                                if isinstance(e, ast.Constant))
    attributes = []
    for value, attribute in _class_attributes(nodes):
        consumed.add(id(value))
        attributes.append((attribute, _pattern(value), f"{label}:{value.lineno}"))
    theirs = senders_only(tree, returning, sent_calls, sent_names) if returning else set()
    for name in theirs:  # every call of it sent or tested here: its names are its senders'
        consumed.update(id(n) for expression, _ in returning[name] for n in ast.walk(expression))
    returned = {id(expression) for node in nodes if isinstance(node, ast.Return) and node.value is not None
                for expression, _ in _name_expressions(node.value) if isinstance(expression, ast.Constant)}
    loose, whole = [], []
    for node in nodes:
        if (isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in consumed
                and (pattern := _pattern(node)) is not None and pattern.startswith(re.escape(PREFIX)) and pattern != TAG):
            (whole if id(node) in returned else loose).append(pattern)
    return ModuleSends(tuple(senders), tuple(loose), tuple(private), tuple(members), tuple(attributes),
                       tuple(attribute_sends), tuple(imported_sends), tuple(whole),
                       tuple((name, tuple(p for _, p in returning[name])) for name in sorted(theirs)),
                       held_names(tree, nodes, label))


HELD = re.compile(rf"{PREFIX}\w*[^\W_]")  # a whole reply name: one ending "_" is the start of names built on it


def held_names(tree: ast.Module, nodes: list[ast.AST], label: str) -> tuple[tuple[str, str], ...]:
    """The reply names a module keeps by name: a module constant (``TRANSFERRED = "utter_queue_transferred"``), the
    strings of a module-level collection or the values of a dictionary (``SAID = {"closed": "utter_agent_handback",
    …}``), a class attribute. Passed around, stored and read back, their senders are not all known; but each is a
    reply the code will say or look for, so the domain must have it: an editor renaming one was not told. A
    constant the code builds a longer name on (``f"{NAME}_registered_phone"``) or compares the start of a name
    with (``said.startswith(NAME)``) is not a whole name."""
    from bot.editor.reply_functions import parents_of

    parents = parents_of(tree)
    built_on = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                and (isinstance(parents.get(id(n)), (ast.FormattedValue, ast.BinOp)) or _affix(parents.get(id(n))))}
    held: list[ast.Constant] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or targets[0].id in built_on:
            continue
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("frozenset", "set", "tuple")
                and len(value.args) == 1 and not value.keywords):
            value = value.args[0]
        held += ([value] if isinstance(value, ast.Constant) else value.elts if isinstance(value, (ast.Set, ast.Tuple, ast.List))
                 else value.values if isinstance(value, ast.Dict) else [])
    held += [value for value, _ in _class_attributes(nodes)]
    return tuple(dict.fromkeys((e.value, f"{label}:{e.lineno}") for e in held
                               if isinstance(e, ast.Constant) and isinstance(e.value, str) and HELD.fullmatch(e.value)))


def _called(expression: ast.AST, returning: dict) -> str | None:
    """Which function returning reply names an expression calls (``open_question(tracker)``, ``self.question()``:
    ``bot.editor.reply_functions.Returners.key``), if it is a call of one."""
    key = getattr(returning, "key", None)
    name = key(expression) if key is not None else (
        expression.func.id if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name) else None)
    return name if name in returning else None


def _returned_by(expression: ast.AST, returning: dict) -> bool:
    """Whether an expression is a call of a function returning reply names (``open_question(tracker)``)."""
    return _called(expression, returning) is not None


def _returns_a_call(value: ast.AST, returning: dict) -> bool:
    """Whether a value may be a call of a function returning reply names (``None if c else open_question(t)``)."""
    return any(_returned_by(expression, returning) for expression, _ in _name_expressions(value))


def _returner_senders(value: ast.AST, returning: dict, sent_calls: set[int], where: str, names, fills_slots: bool,
                      through: str = "") -> list[tuple[None, Sender]]:
    """A sender of each name the function called in ``value`` returns (``None if c else open_question(t)``)."""
    found = []
    for expression, _ in _name_expressions(value):
        if _returned_by(expression, returning):
            sent_calls.add(id(expression))
            found += [(None, Sender(p, where, names, fills_slots, through)) for _, p in returning[_called(expression, returning)]]
    return found


def _imported(tree: ast.Module, nodes: list[ast.AST]) -> dict[str, tuple[str, str]]:
    """Names a module imports from another (``from actions.visits import ASK_TIME_AGAIN``) and binds nowhere
    else: name -> (the label of the module it comes from, its name there)."""
    bound = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    bound |= {n.arg for n in nodes if isinstance(n, ast.arg)}
    imported: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module.replace(".", "/") + ".py", alias.name)
    return {name: origin for name, origin in imported.items() if name not in bound}


def _affix(node: ast.AST | None) -> bool:
    """Whether a call takes its arguments as the start or end of a name (``said.startswith(ASKED)``)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith", "removeprefix", "removesuffix"))


def module_aliases(tree: ast.Module, nodes: list[ast.AST]) -> dict[str, tuple[str, ...]]:
    """Names a module binds to another module and nowhere else (``import actions.identity as identity``,
    ``import actions.identity``, ``from actions import identity``): the dotted name read (``identity``,
    ``actions.identity``) -> the labels that module may have (``actions/identity.py``, its package's
    ``__init__.py``); ``dotted(m.f)`` reads then name its ``f``. One of them that is not a module of the code
    read names nothing there."""
    bound = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    bound |= {n.arg for n in nodes if isinstance(n, ast.arg)}
    aliases: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = _module_labels(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = _module_labels(f"{node.module}.{alias.name}")
    return {name: labels for name, labels in aliases.items() if name.split(".")[0] not in bound}


def _module_labels(module: str) -> tuple[str, ...]:
    path = module.replace(".", "/")
    return f"{path}.py", f"{path}/__init__.py"


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` as written, for a chain of attributes of a name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def _class_attributes(nodes: list[ast.AST]) -> list[tuple[ast.Constant, str]]:
    """Each reply's name a class body assigns to an attribute (``acknowledgement = "utter_ack_repair"``)."""
    return [(statement.value, target.id) for cls in nodes if isinstance(cls, ast.ClassDef)
            for statement in cls.body if isinstance(statement, (ast.Assign, ast.AnnAssign))
            for target in (statement.targets if isinstance(statement, ast.Assign) else [statement.target])
            if isinstance(target, ast.Name) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str) and statement.value.value.startswith(PREFIX)]


def attribute_senders(modules: list[tuple[str, str]], sends: list[ModuleSends], lookup) -> tuple[dict, list[str]]:
    """The senders of replies named by class attributes (:func:`_class_attributes`): those of ``self.<attribute>``,
    when every read of the attribute anywhere is one of them or only looks it up, and all pass the same values
    (a class is not matched to the sends its methods reach); else the replies' regexes, loose."""
    sent: dict[str, list[Sender]] = {}
    for module in sends:
        for attribute, sender in module.attribute_sends:
            sent.setdefault(attribute, []).append(sender)
    found: dict[str, list[Sender]] = {}
    loose: list[str] = []
    for module in sends:
        for attribute, pattern, where in module.attributes:
            senders = sent.get(attribute, [])
            reads = sum(lookup.sending_reads(source, attribute) for _, source in modules if attribute in words(source))
            if senders and reads == len(senders) and len({(s.names, s.fills_slots) for s in senders}) == 1:
                found.setdefault(pattern, []).extend(
                    Sender(pattern, where, s.names, s.fills_slots, s.where) for s in senders)
            else:
                loose.append(pattern)
    return found, loose


def _helper_call(call: ast.Call, helper, constants: dict, used_by_senders: dict[str, int], label: str,
                 scopes: dict[int, dict[str, list[ast.AST]]], returned=({}, set(), set()), imported=None,
                 imported_sends=None) -> list[tuple[ast.AST | None, Sender]]:
    """The senders a call of a helper makes: the reply its argument (or the parameter's default) names.
    ``returned``: the functions returning reply names, and where their calls are sent (``module_sends``);
    ``imported``: names imported from another module, whose constant a call naming it sends (``imported_sends``)."""
    named = (call.args[helper.index] if len(call.args) > helper.index
             else next((k.value for k in call.keywords if k.arg == helper.parameter), None))
    given = _keyword_names(call, scopes.get(id(call), {}))
    given = None if given is None else given - helper.parameters
    returning, sent_calls, sent_names = returned
    held = scopes.get(id(call), {}).get(named.id, []) if isinstance(named, ast.Name) else []
    value = held[0] if len(held) == 1 else named
    if value is not None and _returns_a_call(value, returning):
        if value is not named:
            sent_names.add(id(named))
        found = []
        for send in helper.sends:  # number_during_question(…, question): question = open_question(tracker)
            names = _forwarded(send, given)
            found += [(e, replace(s, pattern=send.template.replace("\0", s.pattern)))
                      for e, s in _returner_senders(value, returning, sent_calls, f"{label}:{call.lineno}", names,
                                                    send.fills_slots, send.where)]
        return found
    choices = _name_expressions(named) if named is not None else [(None, ())]
    found = []
    for expression, _ in choices:
        if expression is None:
            pattern = helper.default
        elif isinstance(expression, ast.Name) and expression.id in constants:
            used_by_senders[expression.id] = used_by_senders.get(expression.id, 0) + 1
            pattern = _pattern(constants[expression.id])
        elif (isinstance(expression, ast.Name) and expression.id in (imported or {}) and imported_sends is not None
              and all(send.template == "\0" for send in helper.sends)):  # reply=CHASED, from actions.repairs
            imported_sends += [(*imported[expression.id], Sender("", f"{label}:{call.lineno}", _forwarded(send, given),
                                                                 send.fills_slots, send.where))
                               for send in helper.sends]
            continue
        else:
            pattern = _pattern(expression)
        if pattern is None:
            continue
        for send in helper.sends:
            names = _forwarded(send, given)
            reply = send.template.replace("\0", pattern)
            if reply.startswith(re.escape(PREFIX)):
                found.append((expression, Sender(reply, f"{label}:{call.lineno}", names, send.fills_slots, send.where)))
    return found


def _forwarded(send, given: frozenset[str] | None) -> frozenset[str] | None:
    """The values a helper's send gives: its own, and the caller's where it passes them on."""
    return send.names if not send.forwards else None if send.names is None or given is None else send.names | given


def _collections(tree: ast.Module) -> dict[str, list[ast.Constant]]:
    """Module-level names bound once to a collection of strings written in place (a set, a tuple, a list,
    or ``frozenset``/``set``/``tuple`` of one): name -> its strings. Names among them (``(…, PASSWORD_ONLY)``)
    are reads of their constants, which say for themselves who sends them: the strings written in place are
    still the collection's (such a name left both replies of ``PROOF_REQUESTS`` checked only loosely)."""
    bound: dict[str, int] = {}
    found: dict[str, list[ast.Constant]] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                bound[target.id] = bound.get(target.id, 0) + 1
        value = getattr(node, "value", None)
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("frozenset", "set", "tuple")
                and len(value.args) == 1 and not value.keywords):
            value = value.args[0]
        if (len(targets) == 1 and isinstance(targets[0], ast.Name) and isinstance(value, (ast.Set, ast.Tuple, ast.List))
                and value.elts and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                       or isinstance(e, ast.Name) for e in value.elts)):
            found[targets[0].id] = [e for e in value.elts if isinstance(e, ast.Constant)]
    return {name: elements for name, elements in found.items() if bound[name] == 1}


@functools.lru_cache(maxsize=4096)
def words(source: str) -> frozenset[str]:
    """Every word in a module's text, so "does it name X" is a lookup, not a search of the text per name
    (that search was most of `kefu validate`'s time)."""
    return frozenset(re.findall(r"\w+", source))


def senders_of(modules: list[tuple[str, str]], replies, elsewhere: str,
               story_senders: dict[str, list[Sender]], helpers: tuple = ()) -> dict[str, list[Sender] | None]:
    """Each reply's senders, or None when they are not determined (see the module's text).
    ``modules``: (label, source) of every module that may send replies; ``elsewhere``: the text of the
    content files, which may name a reply that code then sends under a name read from there; ``helpers``:
    the functions sending a reply their caller names (``bot.editor.reply_helpers.code_helpers``)."""
    from bot.editor.reply_reads import lookups

    lookup = lookups(tuple(source for _, source in modules))
    sends = [module_sends(source, label, helpers, lookup) for label, source in modules]
    loose = [re.compile(p) for m in sends for p in m.loose]
    whole = [re.compile(p) for m in sends for p in m.whole]
    from bot.editor.reply_functions import untested_calls

    whole += [re.compile(p) for (label, _), m in zip(modules, sends) for name, patterns in m.returners  # called elsewhere
              if any(untested_calls(parsed(other), name) for other_label, other in modules
                     if other_label != label and name.lstrip(".") in words(other)) for p in patterns]
    imported: dict[tuple[str, str], list[Sender]] = {}
    for m in sends:
        for origin, name, sender in m.imported_sends:
            imported.setdefault((origin, name), []).append(sender)
    by_constant: dict[str, list[Sender]] = {}
    for (label, _), m in zip(modules, sends):
        for name, p in m.constants:  # sent elsewhere: by the senders importing it, when they are every read there
            elsewhere_reads = sum(lookup.sending_reads(other, name) for other_label, other in modules
                                  if other_label != label and name in words(other))
            if elsewhere_reads and elsewhere_reads == len(imported.get((label, name), ())):
                by_constant[p] = by_constant.get(p, []) + [replace(s, pattern=p) for s in imported[(label, name)]]
            elif elsewhere_reads:
                loose.append(re.compile(p))
    loose += [re.compile(p) for m in sends for name, patterns in m.members for p in patterns  # not only looked up in
              if any(lookup.sending_reads(source, name) for _, source in modules if name in words(source))]
    by_attribute, loose_attributes = attribute_senders(modules, sends, lookup)
    loose += [re.compile(p) for p in loose_attributes]
    named_elsewhere = set(re.findall(rf"\b{PREFIX}\w+", elsewhere))
    result: dict[str, list[Sender] | None] = {}
    for reply in replies:
        senders = ([s for m in sends for s in m.senders if re.fullmatch(s.pattern, reply)] + story_senders.get(reply, [])
                   + [s for by_name in (by_attribute, by_constant) for p, found in by_name.items()
                      if re.fullmatch(p, reply) for s in found])
        undetermined = (not senders or reply in named_elsewhere or any(p.match(reply) for p in loose)
                        or any(p.fullmatch(reply) for p in whole)
                        or any(s.names is None for s in senders))
        result[reply] = None if undetermined else senders
    return result
