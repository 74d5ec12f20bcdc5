"""The short cut for long flat containers renders exactly what the bounded renderer does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jemgui.monitor.inject import _jem_values as values

SCALARS = st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.booleans(),
                    st.text(max_size=300), st.binary(max_size=20),
                    st.sampled_from(["token", "api_key", "plain"]))
KEYS = st.one_of(st.sampled_from(["a", "password", "db_key", "x" * 300]), st.integers())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=40), st.tuples(inner, inner, inner),
                            st.dictionaries(KEYS, inner, max_size=40)),
    max_leaves=60,
)


def rendered(obj, limit, redact):
    out: list[str] = []
    try:
        values._render(obj, out, [limit], set(), redact)
    except values._Full:
        pass
    return values.cut("".join(out), limit)


@settings(max_examples=120, deadline=None)
@given(VALUES, st.sampled_from([5, 50, 200]), st.booleans())
def test_safe_repr_equals_the_renderer(obj, limit, redact):
    kind = type(obj)
    if kind in (str, bytes) or (kind in values._CONTAINERS and values._flat(obj, kind, redact)):
        return  # plain repr() paths, not the renderer's
    assert values.safe_repr(obj, limit, redact) == rendered(obj, limit, redact)


def test_secret_keys_stay_hidden_in_long_dicts():
    obj = {f"k{i}": i for i in range(30)} | {"password": "hunter2"}
    obj = {"password": "hunter2", **obj}
    text = values.safe_repr(obj, 200, True)
    assert "hunter2" not in text and "'password': <redacted>" in text
