"""Each hook of the tracer starts with no check for pending signals, on the CPython that runs
it, so that a signal pending when CPython calls a hook arises at the hook's first call, inside
its `try`, and is handed back to the job where it would arise plain (see _redo in
_jem_trace.py). 3.11+: the hook's first RESUME reads as a resumption after `yield from`;
3.10: its first instruction is a SETUP_FINALLY with a one-byte argument (3.10 checks at a
function's first instruction otherwise). 3.9 checks at almost every instruction while a trace
function is set: it has no such hooks (README, "Known limits")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.monitor.tracing import find_pythons

INJECT = Path(__file__).resolve().parents[2] / "jemgui" / "monitor" / "inject"

ENTRIES = r'''
import dis, json, sys
sys.path.insert(0, sys.argv[1])
import _jem_trace as t

hooks = list(t._hooks((1, [], {}, [None]))) + [t._global, t._stale, t._with_hooks]
if hasattr(t, "_CALLBACKS"):
    hooks = [fn for _, fn in t._CALLBACKS if fn is not t._m_host] + [t._resumed, t._unsuspend]
if sys.version_info >= (3, 11):
    hooks += [t._redo_work, t._settle_work]
first = {}
for fn in hooks:
    ins = [i for i in dis.get_instructions(fn) if i.opname not in ("COPY_FREE_VARS", "MAKE_CELL")]
    first[fn.__name__] = [ins[0].opname, ins[0].arg]
print(json.dumps(first))
'''

PYTHONS = {v: p for v, p in find_pythons()[0].items() if v in ("3.10", "3.11", "3.12", "3.13")}


@pytest.mark.parametrize("version", sorted(PYTHONS))
def test_every_hook_starts_with_no_check_for_signals(version):
    done = subprocess.run([PYTHONS[version], "-c", ENTRIES, str(INJECT)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert len(first) >= 4
    want = ["SETUP_FINALLY"] if version == "3.10" else ["RESUME", 2]
    wrong = {name: got for name, got in first.items()
             if got[:len(want)] != want or (version == "3.10" and got[1] > 255)}
    assert not wrong, wrong
