"""Values as the JEM format writes them: `[type, repr]` pairs cut to a limit, secrets hidden.

This module also runs inside the job's own interpreter (any CPython 3.9+), so it
uses the standard library only. Containers of the builtin types are rendered
piece by piece and stop once the limit is passed, so a local holding a million
items costs no more than one holding ten.
"""

# ruff: noqa: UP031  (%-formatting: the fastest way to build records in the job's hot path)

REDACTED = "<redacted>"
CUT = "\u2026"
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential")
_type_names = {}
_secret_names = {}
_PLAIN = frozenset((int, float, complex, bool, type(None), range))
_CONTAINERS = frozenset((list, tuple, set, frozenset, dict))
FLAT_ITEMS = 16  # a container this small, of plain values, is shown by repr() itself
FLAT_STR = 256


def is_secret(name):
    """True for a name that looks like it holds a secret (spec section 2)."""
    known = _secret_names.get(name)
    if known is None:
        low = name.lower()
        known = low.endswith("_key") or low.endswith("apikey")
        for word in _SECRET_WORDS:
            if word in low:
                known = True
        if len(_secret_names) < 100000:
            _secret_names[name] = known
    return known


def type_name(obj):
    """Qualified name of the object's type; builtins go without their module."""
    t = type(obj)
    name = _type_names.get(t)
    if name is None:
        module = getattr(t, "__module__", None)
        qual = getattr(t, "__qualname__", t.__name__)
        name = qual if module in (None, "builtins") else "%s.%s" % (module, qual)
        if len(_type_names) < 10000:
            _type_names[t] = name
    return name


def cut(text, limit):
    """`text` cut to `limit` characters, with a trailing ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + CUT


class _Full(Exception):
    """Raised inside the bounded renderer once the limit is passed."""


def _render(obj, out, budget, seen, redact):
    """Append the repr of `obj` to `out` in pieces; budget[0] counts what is left."""
    t = type(obj)
    if t is list or t is tuple or t is set or t is frozenset or t is dict:
        if not obj or _flat(obj, t, redact):
            piece = repr(obj)
            out.append(piece)
            budget[0] -= len(piece)
            if budget[0] < 0:
                raise _Full
            return
        key = id(obj)
        if key in seen:
            piece = "[...]" if t is list else "{...}" if t is dict else "(...)"
            out.append(piece)
            budget[0] -= len(piece)
            return
        seen.add(key)
        if t is list:
            opening, closing = "[", "]"
        elif t is tuple:
            opening, closing = "(", ",)" if len(obj) == 1 else ")"
        elif t is frozenset:
            opening, closing = "frozenset({", "})"
        else:
            opening, closing = "{", "}"
        out.append(opening)
        budget[0] -= len(opening)
        first = True
        if t is dict:
            for k, v in obj.items():
                if not first:
                    out.append(", ")
                    budget[0] -= 2
                first = False
                _render(k, out, budget, seen, redact)
                out.append(": ")
                budget[0] -= 2
                if redact and type(k) is str and _secret_names.get(k, True) and is_secret(k):
                    out.append(REDACTED)
                    budget[0] -= len(REDACTED)
                else:
                    _render(v, out, budget, seen, redact)
                if budget[0] < 0:
                    raise _Full
        else:
            for v in obj:
                if not first:
                    out.append(", ")
                    budget[0] -= 2
                first = False
                _render(v, out, budget, seen, redact)
                if budget[0] < 0:
                    raise _Full
        out.append(closing)
        budget[0] -= len(closing)
        seen.discard(key)
    else:
        if (t is str or t is bytes) and len(obj) > 4 * budget[0] + 64:
            # A long string: the start of its repr is the repr of its start
            # (only the choice of quote can differ, which the cut hides anyway).
            piece = repr(obj[: 2 * budget[0] + 16])[:-1]
        else:
            piece = repr(obj)
        out.append(piece)
        budget[0] -= len(piece)
    if budget[0] < 0:
        raise _Full


def _flat(obj, kind, redact):
    """A small container of plain values: repr() is short and shows no secret.

    (Written out without helper calls: it runs for every container of every record.)
    """
    if len(obj) > FLAT_ITEMS:
        return False
    plain = _PLAIN
    secrets = _secret_names  # is_secret's cache, read inline: this runs for every key
    if kind is dict:
        for key, value in obj.items():
            vk = type(value)
            if vk not in plain and not ((vk is str or vk is bytes) and len(value) <= FLAT_STR):
                return None
            kk = type(key)
            if kk is str:
                if len(key) > FLAT_STR or (redact and secrets.get(key, True) and is_secret(key)):
                    return None
            elif kk not in plain:
                return None
        return True
    for value in obj:
        vk = type(value)
        if vk not in plain and not ((vk is str or vk is bytes) and len(value) <= FLAT_STR):
            return False
    return True


def _head(obj, kind, limit, redact):
    """A long list, tuple or dict of flat items: the start of its repr from just enough of
    its items (one level, no recursion); None when an item is not flat.

    (Written out without helper calls, like `_flat`: the locals of a job are often such.)
    """
    plain, containers, secrets = _PLAIN, _CONTAINERS, _secret_names
    out = []
    size = 0
    if kind is dict:
        for key, value in obj.items():
            kk = type(key)
            if kk is str:
                if len(key) > FLAT_STR:
                    return None
                if redact and secrets.get(key, True) and is_secret(key):
                    piece = repr(key) + ": " + REDACTED
                    out.append(piece)
                    size += len(piece) + 2
                    if size > limit:
                        break
                    continue
            elif kk not in plain:
                return None
            vk = type(value)
            if not (vk in plain or ((vk is str or vk is bytes) and len(value) <= FLAT_STR)
                    or (vk in containers and _flat(value, vk, redact))):
                return None
            piece = repr(key) + ": " + repr(value)
            out.append(piece)
            size += len(piece) + 2
            if size > limit:
                break
        return "{" + ", ".join(out) + "}"
    for value in obj:
        vk = type(value)
        if not (vk in plain or ((vk is str or vk is bytes) and len(value) <= FLAT_STR)
                or (vk in containers and _flat(value, vk, redact))):
            return None
        piece = repr(value)
        out.append(piece)
        size += len(piece) + 2
        if size > limit:
            break
    return ("[" if kind is list else "(") + ", ".join(out) + ("]" if kind is list else ")")


def safe_repr(obj, limit=200, redact=True):
    """`repr(obj)` cut to `limit`; never raises, never renders more than it keeps."""
    kind = type(obj)
    try:
        if kind in _PLAIN or ((kind is str or kind is bytes) and len(obj) <= 2 * limit):
            text = repr(obj)
        elif kind in _CONTAINERS and _flat(obj, kind, redact):
            text = repr(obj)
        else:
            text = (_head(obj, kind, limit, redact)
                    if kind is list or kind is dict or (kind is tuple and len(obj) > 1) else None)
            if text is None:
                out = []
                try:
                    _render(obj, out, [limit], set(), redact)
                except _Full:
                    pass
                text = "".join(out)
    except RecursionError:
        return "<repr too deep>"
    except Exception as exc:  # a broken __repr__ of the job's own class
        return "<repr failed: %s>" % type_name(exc)
    return text if len(text) <= limit else text[:limit] + CUT


def pair(obj, limit=200, redact=True):
    """The `[type, repr]` pair of a value."""
    return [type_name(obj), safe_repr(obj, limit, redact)]


def named_pair(name, obj, limit=200, redact=True):
    """The pair of a named value, redacted when the name looks secret."""
    if redact and _secret_names.get(name, True) and is_secret(name):
        return [type_name(obj), REDACTED]
    return [type_name(obj), safe_repr(obj, limit, redact)]


def redact_argv(argv):
    """A command line with the values of secret-looking options hidden.

    `--password=x` and `DB_TOKEN=x` keep their names; `--password x` hides the next word.
    """
    out = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if eq and is_secret(name.lstrip("-")):
            out.append(name + "=" + REDACTED)
        elif arg.startswith("-") and not eq and is_secret(arg.lstrip("-")):
            out.append(arg)
            hide_next = True
        else:
            out.append(arg)
    return out


_TEXT_PATTERN = None


def redact_text(text):
    """Free text (a log line, a shell command) with secret-looking assignments hidden.

    Hides the value in `name=value`, `name: value` and `--name value` when the name looks
    secret; the name stays so a reader sees what was hidden.
    """
    global _TEXT_PATTERN
    if _TEXT_PATTERN is None:
        import re

        name = r"[A-Za-z0-9_.\-]*(?:password|passwd|secret|token|credential|_key|apikey)"
        _TEXT_PATTERN = re.compile(
            r"(?i)((?:\b" + name + r"['\"]?\s*[=:]|(?<![\w-])--?" + name + r"\s)\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&|)'\"]+)"
        )
    low = text.lower()
    for word in _SECRET_WORDS + ("_key", "apikey"):
        if word in low:
            return _TEXT_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)
    return text
