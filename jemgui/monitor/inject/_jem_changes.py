"""Which locals a line may have changed, read once from its code object's bytecode (spec section 2).

Verbosity 4 records, at each line, the locals that the line before it changed. Reading and
rendering every local on every line costs 60x and more, so a frame's locals are compared in
full only at its `call`, `return` and `exception` records and at least every BOUND_LINES of its
lines or BOUND_SECONDS; on other lines only the names the line that just ran may have changed
are read: the names it stores or deletes, and, when it calls something or stores into an item
or attribute, every local it loads (its arguments, the objects whose methods it calls or whose
items it sets) and the frame's cell and free variables (a nested function may rebind them). A
change made through another name shows at the next full comparison. `exact` compares all of
them on every line.

Runs inside the job's interpreter (CPython 3.9+): standard library only.
"""

import sys
from types import BuiltinFunctionType, FunctionType, ModuleType

try:  # imported by the monitor (and its tests) as part of the jemgui package
    from . import _jem_values
except ImportError:  # imported by the tracer inside the job
    import _jem_values

#: a frame's locals are compared in full at least every BOUND_LINES of its lines or BOUND_SECONDS
BOUND_LINES = 64
BOUND_SECONDS = 0.5

_HIDDEN = (type, ModuleType, FunctionType, BuiltinFunctionType)
# types whose values never change: a local still holding the very same object keeps its pair
_SCALARS = {int: True, float: True, complex: True, str: True, bytes: True, bool: True,
            type(None): True, range: True, tuple: False}
_IMMUTABLE = {("re", "Match"), ("re", "Pattern"), ("decimal", "Decimal"), ("fractions", "Fraction"),
              ("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"),
              ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"), ("uuid", "UUID")}
_UNKEPT = object()
_MISSING = object()
ALL = None  # a line after which every local is compared (`from m import *`)

_STORES = frozenset(("STORE_FAST", "DELETE_FAST", "STORE_NAME", "DELETE_NAME", "STORE_GLOBAL", "DELETE_GLOBAL",
                     "STORE_DEREF", "DELETE_DEREF", "LOAD_FAST_AND_CLEAR", "STORE_FAST_MAYBE_NULL",
                     "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST"))
_LOADS = frozenset(("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST", "LOAD_NAME", "LOAD_DEREF",
                    "LOAD_CLOSURE", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF", "LOAD_FROM_DICT_OR_GLOBALS",
                    "STORE_FAST_LOAD_FAST"))
_MUTATORS = frozenset(("STORE_SUBSCR", "DELETE_SUBSCR", "STORE_ATTR", "DELETE_ATTR", "STORE_SLICE",
                       "SETUP_WITH", "BEFORE_WITH", "SETUP_ASYNC_WITH", "BEFORE_ASYNC_WITH", "SEND",
                       "YIELD_FROM", "GET_AWAITABLE"))

# 3.13: f_locals of a module or class body running an inlined comprehension is the comprehension's
_HIDES_NAMESPACE = sys.version_info >= (3, 13)
_limit = 200
_redact = True
exact = False
_effects = {}  # id(code) -> {line: names it may change, or ALL}; the tracer keeps its code objects
_pair = _jem_values.named_pair


def setup(limit, redact, exact_values):
    """The job's repr limit, redaction and value mode (`exact`: a full comparison on every line)."""
    global _limit, _redact, exact
    _limit, _redact, exact = limit, redact, bool(exact_values)


def bound(exact_values=False):
    """The bound as the manifest states it (spec section 2)."""
    return {"lines": 1} if exact_values else {"lines": BOUND_LINES, "seconds": BOUND_SECONDS}


class State(dict):
    """A frame's last recorded locals: name -> (the value if immutable, its pair); `line` is the
    line it is on, `left` the lines until the next full comparison, `due` the time of it."""

    __slots__ = ("line", "left", "due", "effects")


def _line_starts(code, dis):
    """[(offset, line)] where the line changes, in offset order (line None: code of no line)."""
    if hasattr(code, "co_lines"):
        return [(start, line) for start, _, line in code.co_lines()]
    return list(dis.findlinestarts(code))


def effects(code, module_level):
    """{line: the names that line may change} for `code` (ALL: every local), made once."""
    key = id(code)
    table = _effects.get(key)
    if table is not None:
        return table
    import dis  # here, not at the top: a process that never records values does not pay its import

    starts = _line_starts(code, dis)
    stores, loads, calls, whole = {}, {}, set(), set()
    every = set()  # names stored by code that belongs to no line: any line may have run it
    cells = tuple(code.co_cellvars) + tuple(code.co_freevars)
    at, line = 0, None
    for ins in dis.get_instructions(code):
        while at < len(starts) and starts[at][0] <= ins.offset:
            line = starts[at][1]
            at += 1
        name = ins.opname
        if name in _STORES:
            names = ins.argval if type(ins.argval) is tuple else (ins.argval,)
            (every if line is None else stores.setdefault(line, set())).add(names[0])
            if name == "STORE_FAST_STORE_FAST":
                stores.setdefault(line, set()).add(names[1])
        if name in _LOADS or (module_level and name == "LOAD_GLOBAL"):
            names = ins.argval if type(ins.argval) is tuple else (ins.argval,)
            loads.setdefault(line, set()).update(n for n in names if type(n) is str)
        if name.startswith("CALL") or name == "PRECALL" or name in _MUTATORS or name.startswith("INPLACE_") or (
                name == "BINARY_OP" and ins.argrepr.endswith("=")) or name == "IMPORT_STAR":
            calls.add(line)
            if name == "IMPORT_STAR" or "IMPORT_STAR" in (ins.argrepr or ""):
                whole.add(line)
        if module_level and name == "LOAD_FAST_AND_CLEAR" and _HIDES_NAMESPACE:
            whole.add(line)  # 3.13: inside the comprehension f_locals shows only its own names
    table = {}
    for line in set(stores) | set(loads) | calls | whole:
        if line in whole:
            table[line] = ALL
            continue
        names = set(stores.get(line, ())) | every
        if line in calls:
            names.update(loads.get(line, ()))
            names.update(cells)
        if module_level:
            names = {n for n in names if not (n.startswith("__") and n.endswith("__"))}
        table[line] = tuple(sorted(names))
    if every:
        table[None] = tuple(sorted(every))
    _effects[key] = table
    return table


def _items(frame, module_level):
    """(name, value) of a frame's locals; module and class bodies skip their definitions."""
    items = frame.f_locals.items()
    if module_level:
        return [(n, v) for n, v in items
                if not (n.startswith("__") and n.endswith("__")) and not isinstance(v, _HIDDEN)]
    return items


def _immutable(kind):
    known = _SCALARS.get(kind)
    if known is None:
        known = _SCALARS[kind] = (getattr(kind, "__module__", ""), kind.__name__) in _IMMUTABLE or issubclass(
            kind, _HIDDEN)
    return known


def full(vars_of, fid, frame, module_level, extra=None, key="changed"):
    """Compare all of the frame's locals with its last record's: the new or changed ones go to
    `extra[key]`, the gone ones to `extra["deleted"]` (extra itself when nothing changed and
    `key` is "changed"). Restarts the frame's bound."""
    old = vars_of.get(fid)
    state = State()
    changed = {}
    limit, redact = _limit, _redact
    for name, value in _items(frame, module_level):
        prev = old.get(name) if old else None
        if prev is not None and prev[0] is value:
            state[name] = prev
            continue
        kind = type(value)
        pair = _pair(name, value, limit, redact)
        state[name] = (value if _SCALARS.get(kind) or _immutable(kind) else _UNKEPT, pair)
        if prev is None or prev[1] != pair:
            changed[name] = pair
    state.line = getattr(old, "line", None)
    state.left = BOUND_LINES
    state.due = None
    state.effects = getattr(old, "effects", None)
    vars_of[fid] = state
    deleted = [n for n in old if n not in state] if old and len(old) > len(state) - len(changed) else None
    if not changed and not deleted and key == "changed":
        return extra
    out = dict(extra) if extra else {}
    if changed or key != "changed":
        out[key] = changed
    if deleted:
        out["deleted"] = deleted
    return out


def line(vars_of, fid, frame, module_level, lineno, now):
    """The `changed`/`deleted` fields of a line record (None: nothing changed): the names the
    frame's previous line may have changed, or all of them when its bound is up."""
    state = vars_of.get(fid)
    names = ALL
    if state is not None and not exact and state.left > 0 and (state.due is None or now < state.due):
        table = state.effects
        if table is None:
            table = state.effects = effects(frame.f_code, module_level)
        names = table.get(state.line, ())
    if names is ALL:
        out = full(vars_of, fid, frame, module_level)
        state = vars_of[fid]
        state.due = now + BOUND_SECONDS
        state.line = lineno
        return out
    if state.due is None:
        state.due = now + BOUND_SECONDS
    state.left -= 1
    state.line = lineno
    if not names:
        return None
    get = frame.f_locals.get  # 3.13: the frame's own proxy (PEP 667), no dict is built
    changed = deleted = None
    limit, redact = _limit, _redact
    for name in names:
        value = get(name, _MISSING)
        prev = state.get(name)
        if value is _MISSING or (module_level and isinstance(value, _HIDDEN)):
            if prev is not None:
                del state[name]
                if deleted is None:
                    deleted = []
                deleted.append(name)
            continue
        if prev is not None and prev[0] is value:
            continue
        kind = type(value)
        pair = _pair(name, value, limit, redact)
        state[name] = (value if _SCALARS.get(kind) or _immutable(kind) else _UNKEPT, pair)
        if prev is None or prev[1] != pair:
            if changed is None:
                changed = {}
            changed[name] = pair
    if changed is None and deleted is None:
        return None
    out = {}
    if changed:
        out["changed"] = changed
    if deleted:
        out["deleted"] = deleted
    return out
