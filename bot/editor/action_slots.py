"""Which slots each custom action can fill, read from the project's ``actions/``: for the story check.

A story or rule whose reply says ``{customer_name}`` after ``action_record_csat`` would read "None" to a
customer nobody identified: that action never sets the slot. An action fills a slot by returning
``SlotSet("customer_name", …)`` (a value other than ``None``): from its own methods, those of its bases,
the functions they call or name (``identified(…)``, imported from another module, or ``ident.identified(…)`` of a
module imported as ``ident``), the classes they make, and the actions they run in the same turn
(``continue_with("action_query_ticket", …)``, ``find_action(name)``, ``FollowupAction``; one named at run time may
be any action). What is read is a
sure superset: a function called on some other object (``queue.proven(…)``) is not the project's
actions' code, which alone returns the action server's events. A ``SlotSet`` whose slot is computed
(``SlotSet(key, …)``) leaves its action's slots not known: the caller takes it as filling every slot.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from bot.editor.reference_checks import DEFAULT_ACTIONS
from bot.editor.reply_senders import PREFIX, _imported, dotted, module_aliases, parsed

SLOT_EVENTS = frozenset({"SlotSet"})
RUNS_ACTION = frozenset({"continue_with", "find_action", "FollowupAction"})  # their first argument: an action's name
ANY_ACTION = None  # an action named at run time
MODULE, BODY = "<module>", "<body>"
DEFINES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Definition:
    """One function or method: the slots it sets, and what else it reaches."""
    sets: frozenset  # slot names, or (label, name) of an imported constant naming one
    computed: tuple[int, ...]  # lines of a SlotSet whose slot is computed at run time
    names: tuple[str, ...]  # plain names it reads or calls (a function, a class, a constant)
    runs: tuple[str | None, ...]  # actions it runs (ANY_ACTION: named at run time)


@dataclass(frozen=True)
class ModuleCode:
    functions: dict  # name -> Definition; MODULE: the module's own statements (``EVENTS = [SlotSet(…)]``)
    classes: dict  # name -> (base names, {method: Definition}); BODY: the class body's own statements
    constants: dict  # module-level name -> string
    imported: dict  # name -> (label, name there)
    aliases: dict  # a name bound to a module (``import actions.identity as ident``) -> the labels it may have
    action_names: dict  # class name -> the action's name, or a name to look up (("label", "NAME"))


@dataclass(frozen=True)
class ActionSlots:
    fills: dict  # action name -> the slots it can fill (frozenset), None where not known
    unknown: dict  # action name -> "file:line" of the SlotSet whose slot it computes


@functools.lru_cache(maxsize=4096)
def module_code(source: str, label: str) -> ModuleCode:
    tree = parsed(source)
    nodes = list(ast.walk(tree))
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
    imported = _imported(tree, nodes)
    aliases = module_aliases(tree, nodes)
    functions = {f.name: _definition(f, constants, imported, aliases) for f in tree.body
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    functions[MODULE] = _definition(_statements(tree.body), constants, imported, aliases)
    classes, action_names = {}, {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        methods = {m.name: _definition(m, constants, imported, aliases) for m in cls.body
                   if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        methods[BODY] = _definition(_statements(cls.body), constants, imported, aliases)
        classes[cls.name] = (tuple(dotted(b) or "" for b in cls.bases),
                             methods)
        name_method = next((m for m in cls.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                            and m.name == "name"), None)
        returned = [r.value for r in ast.walk(name_method) if isinstance(r, ast.Return)] if name_method else []
        if len(returned) == 1:
            action_names[cls.name] = _string(returned[0], constants, imported, aliases)
    return ModuleCode(functions, classes, constants, imported, aliases, action_names)


def _statements(body: list[ast.stmt]) -> ast.Module:
    """A module's or class's own statements, without the functions and classes it defines."""
    return ast.Module(body=[statement for statement in body if not isinstance(statement, DEFINES)], type_ignores=[])


def _string(node, constants: dict, imported: dict, aliases: dict):
    """A string written in place or a module constant's; (label, name) for an imported one (``m.NAME`` of a module
    imported as ``m``: (its labels, name)); None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Name) and node.id in imported:
        return imported[node.id]
    if isinstance(node, ast.Attribute) and dotted(node.value) in aliases:
        return aliases[dotted(node.value)], node.attr
    return None


def _definition(function, constants: dict, imported: dict, aliases: dict) -> Definition:
    sets, computed, names, runs = set(), [], [], []
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.append(node.id)
        elif isinstance(node, ast.Attribute) and dotted(node.value) in aliases:  # m.identified(…), m.SomeAction
            names.append(f"{dotted(node.value)}.{node.attr}")
        if not isinstance(node, ast.Call):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("key", "name")), None)
        if called in SLOT_EVENTS:
            value = (node.args[1] if len(node.args) > 1
                     else next((k.value for k in node.keywords if k.arg == "value"), None))
            slot = _string(first, constants, imported, aliases) if first is not None else None
            if slot is None:
                computed.append(node.lineno)
            elif not (isinstance(value, ast.Constant) and value.value is None):  # SlotSet(x, None) empties it
                sets.add(slot)
        elif called in RUNS_ACTION:
            named = _string(first, constants, imported, aliases) if first is not None else None
            runs.append(named if named is not None else ANY_ACTION)
    return Definition(frozenset(sets), tuple(computed), tuple(names), tuple(runs))


@functools.lru_cache(maxsize=16)
def action_slots(modules: tuple[tuple[str, str], ...]) -> ActionSlots:
    """``modules``: (label, source) of the project's ``actions/`` modules."""
    code = {label: module_code(source, label) for label, source in modules}

    def module_label(labels: tuple[str, ...]) -> str | None:
        """Which of the labels a module imported as a name may have is one read (``bot.editor.reply_senders.module_aliases``)."""
        return next((label for label in labels if label in code), None)

    def resolve_constant(value):
        seen = set()
        while isinstance(value, tuple) and value not in seen:  # an imported constant: its module's
            seen.add(value)
            label, name = value
            label = module_label(label) if isinstance(label, tuple) else label
            value = code[label].constants.get(name) if label in code else None
            value = code[label].imported.get(name, value) if label in code and value is None else value
        return value if isinstance(value, str) else None

    def resolve(label: str, name: str, depth: int = 0):
        """(label, name) where a name read in ``label`` is defined, following imports; (label, MODULE) for
        another module's constant."""
        module = code.get(label)
        if module is None or depth > 10:
            return None
        if name in module.functions or name in module.classes:
            return label, name
        if "." in name:  # m.identified of a module imported as m: its identified
            prefix, name = name.rsplit(".", 1)
            target = module_label(module.aliases.get(prefix, ()))
            return None if target is None else resolve(target, name, depth + 1)
        if name in module.imported:
            return resolve(*module.imported[name], depth + 1)
        return (label, MODULE) if depth else None

    def ancestry(label: str, cls: str) -> list[tuple[str, str]]:
        found, todo = [], [(label, cls)]
        while todo:
            where = todo.pop()
            if where in found:
                continue
            found.append(where)
            for base in code[where[0]].classes[where[1]][0]:
                target = resolve(where[0], base)
                if target is not None and target[1] in code[target[0]].classes:
                    todo.append(target)
        return found

    actions: dict[str, tuple[str, str]] = {}
    for label, module in code.items():
        for cls, named in module.action_names.items():
            name = resolve_constant(named)
            if name is not None:
                actions.setdefault(name, (label, cls))

    def reached_by(label: str, cls: str) -> tuple[set[str], list[str], set]:
        """The slots an action's class can set, the computed SlotSets ("file:line") and the actions it runs."""
        sets: set[str] = set()
        computed: list[str] = []
        runs: set = set()
        seen: set = set()
        todo: list = [("class", label, cls)]
        while todo:
            item = todo.pop()
            if item in seen:
                continue
            seen.add(item)
            if item[0] == "class":  # every method of it and its bases: ``self.<method>`` is one of them
                for where in ancestry(item[1], item[2]):
                    todo += [("method", *where, method) for method in code[where[0]].classes[where[1]][1]]
                continue
            _, where_label, *path = item
            todo.append(("function", where_label, MODULE))  # its module's statements run, and hold its constants
            if item[0] == "method":
                definition = code[where_label].classes[path[0]][1][path[1]]
            else:
                definition = code[where_label].functions[path[0]]
            for slot in definition.sets:
                named = resolve_constant(slot) if isinstance(slot, tuple) else slot
                (sets.add(named) if named is not None else computed.append(f"{where_label}"))
            computed += [f"{where_label}:{line}" for line in definition.computed]
            runs |= {resolve_constant(r) if isinstance(r, tuple) else r for r in definition.runs}
            for name in definition.names:
                target = resolve(where_label, name)
                if target is None:
                    continue
                module = code[target[0]]
                todo.append(("function", *target) if target[1] in module.functions else ("class", *target))
        return sets, computed, runs

    direct = {name: reached_by(*where) for name, where in actions.items()}
    fills: dict[str, frozenset[str] | None] = {}
    unknown: dict[str, str] = {}
    for name in direct:
        sets, computed, pending, done = set(), [], {name}, set()
        while pending:  # the actions it runs in the same turn, theirs too
            other = pending.pop()
            done.add(other)
            if other is not ANY_ACTION and other not in direct and (
                    other in DEFAULT_ACTIONS or other.startswith(PREFIX)):
                continue  # Rasa's own, or a reply: fills nothing
            if other not in direct:  # named at run time, or not read: any of them
                pending |= set(direct) - done
                continue
            other_sets, other_computed, other_runs = direct[other]
            sets |= other_sets
            computed += other_computed
            pending |= {r for r in other_runs if r not in done}
        fills[name] = None if computed else frozenset(sets)
        if computed:
            unknown[name] = sorted(computed)[0]
    return ActionSlots(fills, unknown)
