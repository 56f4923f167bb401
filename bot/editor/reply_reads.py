"""Which reads of a reply's name only look it up: compared with what the bot said, never sent.

A module constant naming a reply (``BOOK_AGAIN = "utter_visit_done_book_again"``) is its senders' only
when nothing else may send it; any other read left the reply checked against every name the code passes
anywhere. But most other reads ask "was this just said?": ``last_said(tracker) in (CONFIRM_NEW, …)``,
``just_asked(tracker, *BOOK_QUESTIONS)``, ``said_yes(tracker, VISIT_AGAIN, BOOK_QUESTIONS)``. A read looks
the name up when it is compared, or is in a tuple, list or set that is, or is passed to a parameter of a
function (module-level, defined once in the code read) that every read of only looks up, or is in a
module-level collection every read of which looks it up. Anything else may send it.

A name passed to another object's method under a keyword (``self.queue.transfer(…, says=TRANSFERRED)``) is
stored, not sent, when every method of that name in the code read keeps that parameter under the same key
(``{"says": says}``) or only looks at it, and every read of that key anywhere (``owed["says"]``,
``owed.get("says")``) only looks it up. Blind spots: a stored value read back other than by its key (the whole
record spread into a sender, a key held in a variable) is not followed, and a library's method of the same name
as one of the code's is taken for it.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass

from bot.editor.reply_senders import PREFIX, SENDERS, TAG, parsed, words

LOOKUP = "lookup"
OTHER = "other"
# a read is LOOKUP, OTHER, ("call", function, position or keyword, starred), ("collection", name),
# ("stored", method, keyword): passed to another object's method, or ("kept", key): a dictionary's value under key
KEY_READS = ("get", "pop")  # ``record.get("says")``: the key's value read back


@dataclass(frozen=True)
class ModuleReads:
    reads: tuple[tuple[str, tuple], ...]  # (name read, how) for every read of a name or attribute
    # module-level functions: (name, positional parameters, *args name, {parameter: reads of it})
    functions: tuple[tuple[str, tuple[str, ...], str | None, tuple[tuple[str, tuple], ...]], ...]


@functools.lru_cache(maxsize=4096)
def module_reads(source: str) -> ModuleReads:
    if PREFIX not in source:  # a module naming no reply: its reads and functions look up none
        return ModuleReads((), ())
    tree = parsed(source)
    parents: dict[int, ast.AST] = {}
    read: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:  # one walk noting each node's parent (ast.walk and a parent map would be two)
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
            todo.append(child)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) or isinstance(node, ast.Attribute):
            read.append(node)
    reads = tuple((node.id if isinstance(node, ast.Name) else node.attr, _how(node, parents)) for node in read)
    functions = []
    for function in tree.body:
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            positional = tuple(a.arg for a in function.args.posonlyargs + function.args.args)
            star = function.args.vararg.arg if function.args.vararg else None
            params = set(positional) | ({star} if star else set())
            uses = tuple((node.id, _how(node, parents)) for node in ast.walk(function)
                         if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in params)
            functions.append((function.name, positional, star, uses))
    return ModuleReads(reads, tuple(functions))


def _how(node: ast.AST, parents: dict[int, ast.AST]) -> tuple:
    """How one read is used: walked up through the literals holding it to what takes it."""
    starred = False
    while True:
        parent = parents.get(id(node))
        if isinstance(parent, (ast.Tuple, ast.List, ast.Set)):
            node = parent
        elif isinstance(parent, ast.Starred):
            node, starred = parent, True
        elif isinstance(parent, ast.Compare) or isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
            return (LOOKUP,)
        elif isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and node is parent.test:
            return (LOOKUP,)  # tested, never said: ``if reply:``
        elif isinstance(parent, (ast.IfExp, ast.BoolOp)):  # ``a if c else b``, ``a or b``: goes where the choice goes
            node = parent
        elif isinstance(parent, ast.Dict) and node in parent.values and isinstance(
                key := parent.keys[parent.values.index(node)], ast.Constant) and isinstance(key.value, str):
            if key.value == TAG:  # {"utter_action": NAME}: what was said
                return (LOOKUP,)
            return ("kept", key.value)
        elif isinstance(parent, ast.keyword) and isinstance(call := parents.get(id(parent)), ast.Call):
            # a function by its own name only: an attribute call may be another object's method of that name
            method = call.func.attr if isinstance(call.func, ast.Attribute) else None
            if method is not None and method not in SENDERS and parent.arg is not None:
                return ("stored", method, parent.arg)
            return ("call", getattr(call.func, "id", None), parent.arg, starred)
        elif isinstance(parent, ast.Call) and node is not parent.func:
            name = getattr(parent.func, "id", None)
            if name in ("frozenset", "set", "tuple") and len(parent.args) == 1 and not parent.keywords:
                node = parent
                continue
            return ("call", name, parent.args.index(node), starred)
        elif (isinstance(parent, ast.Assign) and isinstance(parents.get(id(parent)), ast.Module)
              and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name) and node is parent.value):
            return ("collection", parent.targets[0].id)
        else:
            return (OTHER,)


class Lookups:
    """The functions' parameters and module-level collections of ``sources`` that only look up what they
    hold: each assumed so, then struck off while some read of it does more, until none is (a function
    passing its parameter on to another is as that one is)."""

    def __init__(self, sources: tuple[str, ...]):
        all_reads = [module_reads(source) for source in sources]
        defined: dict[str, int] = {}
        for source in sources:
            for name in defined_in(source):
                defined[name] = defined.get(name, 0) + 1
        self.functions = {f[0]: f for m in all_reads for f in m.functions if defined.get(f[0]) == 1}
        self.parameters = {(name, param) for name, positional, star, _ in self.functions.values()
                           for param in positional + ((star,) if star else ())}
        self.collections = {how[1] for m in all_reads for _, how in m.reads if how[0] == "collection"}
        reads_by_name: dict[str, list[tuple]] = {}
        for m in all_reads:
            for name, how in m.reads:
                reads_by_name.setdefault(name, []).append(how)
        self._sources = sources
        self._stored: dict[tuple[str, str], bool] = {}  # (method, keyword) -> stored there (:meth:`_stores`)
        changed = True
        while changed:
            changed = False
            self._stored.clear()  # read again as the parameters and collections are struck off
            for name, param in sorted(self.parameters):
                if not all(self.looks_up(how) for used, how in self.functions[name][3] if used == param):
                    self.parameters.discard((name, param))
                    changed = True
            for name in sorted(self.collections):
                if not all(self.looks_up(how) for how in reads_by_name.get(name, ())):
                    self.collections.discard(name)
                    changed = True

    def looks_up(self, how: tuple) -> bool:
        if how[0] == LOOKUP:
            return True
        if how[0] == "call":
            return self._parameter(how) in self.parameters
        if how[0] == "stored":
            return self._stores(*how[1:])
        return how[0] == "collection" and how[1] in self.collections

    def _stores(self, method: str, keyword: str) -> bool:
        """Whether every method of that name keeps its parameter ``keyword`` under that key or only looks at it,
        and every read of the key's value anywhere only looks it up. No such method in the code read (another
        library's): not known. Read when asked (few are), assumed so while it is read (one passing it on)."""
        known = self._stored.get((method, keyword))
        if known is None:
            self._stored[method, keyword] = True
            uses = [parameter_uses(source, method, keyword) for source in self._sources if method in words(source)]
            known = (bool(uses) and None not in uses and any(uses)
                     and all(how == ("kept", keyword) or self.looks_up(how) for u in uses for how in u)
                     and all(self.looks_up(how) for source in self._sources if keyword in words(source)
                             for how in key_reads(source, keyword)))
            self._stored[method, keyword] = known
        return known

    def _parameter(self, how: tuple) -> tuple[str, str] | None:
        _, function, position, starred = how
        if function not in self.functions:
            return None
        _, positional, star, _ = self.functions[function]
        if isinstance(position, str):
            return (function, position) if position in positional else None
        if isinstance(position, int) and position < len(positional) and not starred:
            return function, positional[position]
        if isinstance(position, int) and position >= len(positional) and star:
            return function, star
        return None

    def sending_reads(self, source: str, name: str) -> int:
        """How many reads of ``name`` in ``source`` may send it."""
        return sum(1 for read, how in module_reads(source).reads if read == name and not self.looks_up(how))


@functools.lru_cache(maxsize=4096)
def _parents(source: str) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(parsed(source)) for child in ast.iter_child_nodes(node)}


def _is_text(node: ast.AST, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


@functools.lru_cache(maxsize=4096)
def key_reads(source: str, key: str) -> tuple[tuple, ...]:
    """How each read of a key's value in one module (``owed["says"]``, ``owed.get("says")``) is used."""
    if f'"{key}"' not in source and f"'{key}'" not in source:
        return ()
    parents = _parents(source)
    return tuple(_how(node, parents) for node in ast.walk(parsed(source))
                 if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_text(node.slice, key)
                 or isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr in KEY_READS and node.args and _is_text(node.args[0], key))


@functools.lru_cache(maxsize=4096)
def parameter_uses(source: str, method: str, parameter: str) -> tuple[tuple, ...] | None:
    """How the functions and methods named ``method`` in one module use their ``parameter``; None when one of
    them has no such parameter (it goes into ``**kwargs``, or is not taken)."""
    if not re.search(rf"\bdef {re.escape(method)}\(", source):
        return ()
    parents = _parents(source)
    uses: list[tuple] = []
    for function in ast.walk(parsed(source)):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and function.name == method:
            arguments = function.args
            if parameter not in {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}:
                return None
            uses += [_how(node, parents) for node in ast.walk(function)
                     if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id == parameter]
    return tuple(uses)


@functools.lru_cache(maxsize=16)
def lookups(sources: tuple[str, ...]) -> Lookups:
    return Lookups(sources)


@functools.lru_cache(maxsize=4096)
def defined_in(source: str) -> tuple[str, ...]:
    """The functions a module defines (a name defined twice in the code read may be either at a call)."""
    return tuple(re.findall(r"\bdef (\w+)\b", source))
