"""Functions that return a reply's name for their callers to send: ``open_question(tracker)`` (actions/identity.py)
returns "utter_ask_selfhelp_worked" or ``details_question``'s f"utter_ask_fault_detail_{fault_type}".

Read as names written anywhere, they left those five replies checked against every value the code passes
anywhere. A module-level function or a method of a module-level class (its name defined once in its module; a
method called on its class, or on ``self``/``cls`` in its class's methods) *returns reply names* when every value it returns
is ``None``, a reply's name written in place (a string or an f-string, through ``a if c else b`` and names it
assigns once and only returns, compares or tests), or a call of another such function. A call of it that a
sender sends (directly, or through a name assigned once) is a sender of each name it returns; the names are
those senders' only when every call of the function is sent, tested (``if details_question(tracker):``) or
returned by such a function that is its senders' too, and (``bot.editor.reply_senders.senders_of``) every call
in another module is tested.
"""
from __future__ import annotations

import ast
import functools
import re

from bot.editor.reply_senders import PREFIX, _name_expressions, _pattern

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


class Returners(dict):
    """Function name -> (expression, regex) of each reply name it can return, its callees' included; a method's
    name is ``.name``. ``key(call)``: which of them a call calls, if any."""

    def __init__(self, found: dict, tree: ast.Module, owners: dict[str, str]):
        super().__init__(found)
        self.tree, self.owners = tree, owners

    def key(self, call: ast.AST) -> str | None:
        return call_key(call, self.tree, self.owners) if isinstance(call, ast.Call) else None


def call_key(call: ast.Call, tree: ast.Module, owners: dict[str, str]) -> str | None:
    """What a call calls: a module-level function by its name; ``.m``, a method ``m`` of a class here
    (``owners``: ``.m`` -> its class) called on the class, or on ``self``/``cls`` in that class's own methods
    (elsewhere ``self.m`` may be another class's)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and f".{func.attr}" in owners):
        return None
    owner = owners[f".{func.attr}"]
    if func.value.id == owner or func.value.id in ("self", "cls") and _enclosing_class(call, tree) == owner:
        return f".{func.attr}"
    return None


def _enclosing_class(node: ast.AST, tree: ast.Module) -> str | None:
    parents = parents_of(tree)
    while (node := parents.get(id(node))) is not None and not isinstance(node, ast.ClassDef):
        pass
    return node.name if node is not None else None


def function_key(function: ast.AST, tree: ast.Module) -> str:
    """A function's name as :func:`call_key` gives it: ``.m`` for a method."""
    return f".{function.name}" if isinstance(parents_of(tree).get(id(function)), ast.ClassDef) else function.name


def returners(tree: ast.Module) -> Returners:
    """The functions (module-level, or methods of a module-level class) returning reply names, each named once
    in the module: (expression, regex) of each reply name it can return, its callees' included."""
    defined = [(f.name, f) for f in tree.body if isinstance(f, FUNCTIONS)]
    methods = [(f".{m.name}", m, cls.name) for cls in tree.body if isinstance(cls, ast.ClassDef)
               for m in cls.body if isinstance(m, FUNCTIONS)]
    every = [name.lstrip(".") for name, _ in defined] + [name.lstrip(".") for name, _, _ in methods]
    functions = {name: f for name, f in defined + [(name, m) for name, m, _ in methods]
                 if every.count(name.lstrip(".")) == 1}
    owners = {name: cls for name, _, cls in methods if name in functions}
    read = {name: found for name, function in functions.items()
            if (found := _returned(function, functions, lambda call: call_key(call, tree, owners))) is not None}
    resolved: dict[str, tuple | None] = {}

    def flatten(name: str, seen: frozenset[str]) -> tuple | None:
        if name in resolved:
            return resolved[name]
        if name not in read or name in seen:
            return None
        own, callees = read[name]
        found = list(own)
        for callee in callees:
            more = flatten(callee, seen | {name})
            if more is None:
                resolved[name] = None
                return None
            found += more
        resolved[name] = tuple(found)
        return resolved[name]

    return Returners({name: found for name in read if (found := flatten(name, frozenset())) is not None and found},
                     tree, owners)


def _returned(function, functions: dict, key):
    """(own (expression, regex) pairs, returners it returns the call of), or None if it returns anything else."""
    nodes, parents = _own_nodes(function)
    assigned: dict[str, list[ast.AST]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
    arguments = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    own, callees, through = [], [], set()
    for node in nodes:
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        for expression, _ in _name_expressions(node.value):
            held = expression.id if isinstance(expression, ast.Name) else None
            if held not in arguments and len(assigned.get(held, ())) == 1 and sum(
                    isinstance(n, ast.Name) and n.id == held and isinstance(n.ctx, ast.Store) for n in nodes) == 1:
                through.add(expression.id)
                choices = [e for e, _ in _name_expressions(assigned[expression.id][0])]
            else:
                choices = [expression]
            for choice in choices:
                if isinstance(choice, ast.Constant) and choice.value is None:
                    continue
                if isinstance(choice, ast.Call) and key(choice) in functions:
                    callees.append(key(choice))
                elif (found := _pattern(choice)) is not None and found.startswith(re.escape(PREFIX)):
                    own.append((choice, found))
                else:
                    return None
    for name in through:  # a name holding the reply: only returned, compared or tested here
        for node in nodes:
            if (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
                    and not isinstance(parents.get(id(node)), ast.Compare) and not is_tested(node, parents)
                    and not isinstance(_receiver(node, parents), ast.Return)):
                return None
    return (own, callees) if own or callees else None


def _receiver(value: ast.AST, parents: dict[int, ast.AST]) -> ast.AST | None:
    """What takes a value, through the sides of ``a if c else b`` it is one of."""
    parent = parents.get(id(value))
    while isinstance(parent, ast.IfExp) and parent.test is not value:
        value, parent = parent, parents.get(id(parent))
    return parent


def _own_nodes(function) -> tuple[list[ast.AST], dict[int, ast.AST]]:
    """A function's nodes, not its inner functions', and each one's parent."""
    nodes, parents, todo = [], {}, [function]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
            if not isinstance(child, NESTED):
                todo.append(child)
    return nodes, parents


@functools.lru_cache(maxsize=4096)
def parents_of(tree: ast.Module) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def is_tested(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Whether a value is only tested for truth: ``if f(…):``, ``f(…) and …``, ``not f(…)``."""
    parent = parents.get(id(node))
    while isinstance(parent, ast.BoolOp) or isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        node, parent = parent, parents.get(id(parent))
    return isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and parent.test is node


def senders_only(tree: ast.Module, returning: dict, sent_calls: set[int], sent_names: set[int]) -> set[str]:
    """The returners of ``returning`` every call of which in this module is sent (``sent_calls``: the calls a
    sender sends; ``sent_names``: the names assigned once a sender sends), tested, or returned by another of them."""
    parents = parents_of(tree)
    uses: dict[str, list] = {name: [] for name in returning}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in uses:
            uses[node.id].append(node)
        elif isinstance(node, ast.Attribute) and f".{node.attr}" in uses:  # any object's: one not the method's is no fine use
            uses[f".{node.attr}"].append(node)
    fine = set(returning)
    changed = True
    while changed:
        changed = False
        for name in sorted(fine):
            if not all(_use_fine(node, parents, fine, sent_calls, sent_names, returning, tree, name)
                       for node in uses[name]):
                fine.discard(name)
                changed = True
    return fine


def _use_fine(node: ast.AST, parents: dict, fine: set[str], sent_calls: set[int], sent_names: set[int],
              returning: Returners, tree: ast.Module, name: str) -> bool:
    call = parents.get(id(node))
    if not isinstance(call, ast.Call) or call.func is not node or returning.key(call) != name:
        return False  # passed on as a function (who calls it is not known), or another object's method
    if id(call) in sent_calls or is_tested(call, parents):
        return True
    parent = _receiver(call, parents)
    function = parent
    while function is not None and not isinstance(function, FUNCTIONS):
        function = parents.get(id(function))
    if isinstance(parent, ast.Return):
        return function is not None and function_key(function, tree) in fine
    if (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)
            and function is not None):
        held = parent.targets[0].id
        reads = [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == held]
        return sum(isinstance(n.ctx, ast.Store) for n in reads) == 1 and all(
            id(n) in sent_names or is_tested(n, parents) for n in reads if isinstance(n.ctx, ast.Load))
    return False


@functools.lru_cache(maxsize=4096)
def untested_calls(tree: ast.Module, name: str) -> int:
    """How many reads of ``name`` in another module do more than test a call's value: any object's attribute of
    that name (``m.open_question``; a method's, ``.question``: ``action.question``), or a function's plain name."""
    parents = parents_of(tree)
    bare = name.lstrip(".")
    return sum(1 for node in ast.walk(tree)
               if (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
                   or isinstance(node, ast.Attribute) and node.attr == bare)
               and not (isinstance(parents.get(id(node)), ast.Call) and is_tested(parents[id(node)], parents)))
