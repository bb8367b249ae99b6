"""Which names Python code reads, binds and leaves unbound, scope by scope.

A fill that reads a name nothing in view binds (``return dmp_list(f)`` in a module without
a ``dmp_list``, or ``key`` inside a function where only another function binds it) is
invented; a hole after which the code reads a name that nothing binds (``n_splines`` used
on the next line, bound nowhere) asks to be filled with that binding, and a hole that ends
a function which promises a value (a return annotation, a doctest's output, a "Returns"
section) and returns none asks for a ``return``. The engine ranks candidates and copies
with these and asks the model for the binding or the return (``Filler``, steps 6-8).

Scopes follow Python's rules where they matter for a fill: a function sees its own names,
its enclosing functions' and the module's; a class body's names are seen by the code
directly in it (and, leniently, by comprehensions there), not by its methods; comprehensions
and lambdas have their own. Leniencies that keep running code unflagged: a name bound
anywhere in a scope counts as bound everywhere in it (no "used before assignment"), and
``global``/``nonlocal`` declarations count as bindings. Code that binds names at run time
(``globals()``, ``exec``) can still be flagged; a ``from m import *`` makes every answer
None (it may bind anything).

Pure: ``ast`` only (through ``syntax.python_tree``, which shares a candidate's parse with
the parse check); the text is parsed, never run.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import functools
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from infill.syntax import ast_offset, line_starts, python_tree

__all__ = ["unresolved", "undefined_names", "needed_names", "visible_names",
           "statement_names", "binds_any", "unbound_count", "needs_return", "lacks_return"]

# Names every module can read without binding them.
PREDEFINED = frozenset(dir(builtins)) | {
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__path__",
    "__builtins__", "__annotations__", "__dict__", "__class__", "__module__", "__qualname__"}

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass(eq=False)
class _Scope:
    kind: str                       # "module", "function", "class", "comprehension"
    parent: "_Scope | None"
    bound: set[str] = field(default_factory=set)

    def sees(self, name: str) -> bool:
        scope, innermost = self, True
        while scope is not None:
            if (innermost or scope.kind != "class") and name in scope.bound:
                return True
            # A comprehension in a class body sees the class's names (lenient).
            innermost = innermost and scope.kind == "comprehension"
            scope = scope.parent
        return name in PREDEFINED

    def visible(self) -> set[str]:
        seen, scope, innermost = set(PREDEFINED), self, True
        while scope is not None:
            if innermost or scope.kind != "class":
                seen |= scope.bound
            innermost = innermost and scope.kind == "comprehension"
            scope = scope.parent
        return seen


class _Walker:
    """Collects every read (line, column in UTF-8 bytes, name, scope) and binds each name
    in its scope; ``star``: a ``from m import *`` was seen."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, int, str, _Scope]] = []
        self.star = False

    def visit(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, _FUNCTIONS) or isinstance(node, ast.Lambda):
            if not isinstance(node, ast.Lambda):
                scope.bound.add(node.name)
                for d in node.decorator_list:
                    self.visit(d, scope)
                if node.returns is not None:
                    self.visit(node.returns, scope)
            args = node.args
            for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
                self.visit(default, scope)
            inner = _Scope("function", scope)
            for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if a is not None:
                    inner.bound.add(a.arg)
                    if a.annotation is not None:
                        self.visit(a.annotation, scope)
            for param in getattr(node, "type_params", ()):
                inner.bound.add(param.name)
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                self.visit(stmt, inner)
        elif isinstance(node, ast.ClassDef):
            scope.bound.add(node.name)
            for child in node.decorator_list + node.bases + [k.value for k in node.keywords]:
                self.visit(child, scope)
            inner = _Scope("class", scope)
            for param in getattr(node, "type_params", ()):
                inner.bound.add(param.name)
            for stmt in node.body:
                self.visit(stmt, inner)
        elif isinstance(node, _COMPREHENSIONS):
            generators = node.generators
            self.visit(generators[0].iter, scope)  # evaluated in the enclosing scope
            inner = _Scope("comprehension", scope)
            for i, gen in enumerate(generators):
                self.visit(gen.target, inner)
                if i:
                    self.visit(gen.iter, inner)
                for test in gen.ifs:
                    self.visit(test, inner)
            for part in ("elt", "key", "value"):
                child = getattr(node, part, None)
                if child is not None:
                    self.visit(child, inner)
        elif isinstance(node, ast.NamedExpr):
            target = scope  # := binds in the nearest scope that is not a comprehension
            while target.kind == "comprehension" and target.parent is not None:
                target = target.parent
            target.bound.add(node.target.id)
            scope.bound.add(node.target.id)
            self.visit(node.value, scope)
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.reads.append((node.lineno, node.col_offset, node.id, scope))
            else:
                scope.bound.add(node.id)
        elif isinstance(node, ast.alias):
            if node.name == "*":
                self.star = True
            else:
                scope.bound.add(node.asname or node.name.split(".")[0])
        else:
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                scope.bound.update(node.names)
            name = getattr(node, "name", None)  # except ... as, match captures
            if isinstance(name, str):
                scope.bound.add(name)
            rest = getattr(node, "rest", None)  # match {**rest}
            if isinstance(rest, str):
                scope.bound.add(rest)
            for child in ast.iter_child_nodes(node):
                self.visit(child, scope)


@functools.lru_cache(maxsize=8)
def _analyse(text: str) -> tuple[list[tuple[int, str, _Scope]], list[int],
                                 list[tuple[int, int]]] | None:
    """(character offset, name, scope) of every read of ``text``, the character offset of
    each line start, and the (first, last) lines of every function and class; None when
    Python does not parse it or a star import hides names."""
    tree = python_tree(text)
    if tree is None:
        return None
    walker = _Walker()
    try:
        walker.visit(tree, _Scope("module", None))
    except RecursionError:
        return None
    if walker.star:
        return None
    starts = line_starts(text)
    reads = [(ast_offset(text, starts, lineno, col), name, scope)
             for lineno, col, name, scope in walker.reads]
    blocks = [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
              if isinstance(node, _FUNCTIONS + (ast.ClassDef,))]
    return reads, starts, blocks


def unresolved(text: str, language: str = "python") -> list[tuple[int, str]] | None:
    """(character offset, name) of every read in ``text`` that no scope in view binds and
    that is not a builtin, in text order. None when this cannot be told: not Python, text
    Python does not parse, or a ``from m import *``."""
    if language != "python":
        return None
    analysed = _analyse(text)
    if analysed is None:
        return None
    return sorted((at, name) for at, name, scope in analysed[0] if not scope.sees(name))


def undefined_names(text: str, ranges: Sequence[tuple[int, int]],
                    language: str) -> list[str] | None:
    """Names read inside ``ranges`` (character offsets into ``text``) that nothing in view
    binds: what a fill invents. None when this cannot be told (``unresolved``)."""
    found = unresolved(text, language)
    if found is None:
        return None
    return [name for at, name in found if any(a <= at < b for a, b in ranges)]


def _scope_end(text: str, at: int) -> int:
    """Where the innermost function or class around character ``at`` of ``text`` ends (its
    last line's end), or the end of the text at module level: the reads a binding placed at
    ``at`` can serve."""
    analysed = _analyse(text)
    if analysed is None:
        return len(text)
    _, starts, blocks = analysed
    line = bisect.bisect_right(starts, at)  # 1-based line of ``at``
    ends = [last for first, last in blocks if first < line <= last]
    end_line = min(ends, default=None)
    if end_line is None or end_line >= len(starts):
        return len(text)
    return starts[end_line]


def needed_names(text: str, start: int, end: int, language: str) -> list[str] | None:
    """Names that the code after a hole at ``start:end`` of ``text`` (the hole's own text in
    between: empty, or a placeholder) reads, in the function or class around the hole (the
    rest of the text at module level), and that nothing binds: what a fill there should bind.
    In order of first read; None when this cannot be told (``unresolved``)."""
    found = unresolved(text, language)
    if found is None:
        return None
    stop = _scope_end(text, start)
    first_read: dict[str, None] = {}
    for at, name in found:
        if end <= at < stop:
            first_read.setdefault(name, None)
    return list(first_read)


def visible_names(text: str, at: int, language: str) -> frozenset[str] | None:
    """The names code at character ``at`` of ``text`` can read (builtins included): those
    bound in the scopes around the nearest read at or after ``at``. Put a placeholder name at
    ``at`` to ask about a hole. None when this cannot be told (``unresolved``)."""
    if language != "python":
        return None
    analysed = _analyse(text)
    if analysed is None:
        return None
    reads = analysed[0]
    nearest = min((r for r in reads if r[0] >= at), key=lambda r: r[0], default=None)
    if nearest is None:
        return None
    return frozenset(nearest[2].visible())


@functools.lru_cache(maxsize=4096)
def statement_names(code: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(names read, names bound) by one line of Python code on its own (a block's first
    line, such as ``for x in items:``, is read with an empty body); None when the line is
    not a statement by itself."""
    code = code.strip()
    for attempt in (code, code + "\n    pass"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(attempt)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        walker = _Walker()
        module = _Scope("module", None)
        try:
            walker.visit(tree, module)
        except RecursionError:
            return None
        reads = frozenset(name for _, _, name, scope in walker.reads if not scope.sees(name))
        return reads - PREDEFINED, frozenset(module.bound)
    return None


def binds_any(code: str, wanted: Collection[str]) -> bool:
    """Whether the line ``code`` binds one of the names ``wanted``."""
    found = statement_names(code)
    return found is not None and not found[1].isdisjoint(wanted)


def unbound_count(text: str, ranges: Sequence[tuple[int, int]],
                  needed: Sequence[Collection[str]], language: str) -> int:
    """For fills at ``ranges`` of ``text``: how many of the names ``needed[i]`` (read after
    hole i and bound nowhere without a fill, ``needed_names``) are still read unbound after
    fill i. 0 when this cannot be told (``unresolved``)."""
    if not any(needed):
        return 0
    found = unresolved(text, language)
    if found is None:
        return 0
    return sum(len({name for at, name in found if at >= end} & set(wanted))
               for (_, end), wanted in zip(ranges, needed) if wanted)


def _innermost_function(tree: ast.Module, line: int):
    """The innermost function whose body spans 1-based ``line``, or None."""
    found = None
    for node in ast.walk(tree):
        if (isinstance(node, _FUNCTIONS) and node.lineno < line <= (node.end_lineno or 0)
                and (found is None or node.lineno > found.lineno)):
            found = node
    return found


def _returns_a_value(function) -> bool:
    """Whether ``function``'s own body (not nested functions or classes) returns a value or
    yields."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return True
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, _FUNCTIONS + (ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _promises_a_value(function) -> bool:
    """Whether ``function`` says it gives a value: a return annotation other than ``None``
    or ``NoReturn``, a docstring that describes what it returns, or a doctest example whose
    expected output is not empty."""
    returns = function.returns
    if returns is not None and not (
            (isinstance(returns, ast.Constant) and returns.value is None)
            or (isinstance(returns, ast.Name) and returns.id in ("None", "NoReturn", "Never"))):
        return True
    doc = ast.get_docstring(function) or ""
    if any(mark in doc for mark in ("Returns", ":return", ":rtype", "Return:")):
        return True
    lines = [line.strip() for line in doc.splitlines()]
    return any(line.startswith(">>> ") and nxt and not nxt.startswith((">>>", "..."))
               for line, nxt in zip(lines, lines[1:]))


def _function_at(text: str, at: int, language: str):
    """The innermost function around character ``at`` of ``text``, or None (not Python, or
    not parsed)."""
    if language != "python":
        return None
    tree = python_tree(text)
    return None if tree is None else _innermost_function(tree, text.count("\n", 0, at) + 1)


def needs_return(text: str, start: int, language: str) -> bool:
    """Whether a hole at ``start`` of ``text`` (holding a placeholder statement) is the last
    statement of a function that promises a value (``_promises_a_value``) and returns none
    anywhere else: the fill there should return it. False when this cannot be told."""
    function = _function_at(text, start, language)
    if function is None or _returns_a_value(function):
        return False
    line = text.count("\n", 0, start) + 1
    last = function.body[-1]
    return last.lineno <= line <= (last.end_lineno or last.lineno) and _promises_a_value(function)


def lacks_return(text: str, at: int, language: str) -> bool:
    """Whether the innermost function around character ``at`` of ``text`` returns no value
    anywhere (False when there is none, or this cannot be told)."""
    function = _function_at(text, at, language)
    return function is not None and not _returns_a_value(function)
