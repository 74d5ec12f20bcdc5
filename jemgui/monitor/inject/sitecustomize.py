"""Loaded by every Python process of a JEM-monitored job (the monitor puts this folder on
PYTHONPATH). Starts JEM's tracer on CPython 3.9+, then hands over to the
sitecustomize the job would have loaded without the monitor.

Written so that any Python, even 2.7, can read it: a job's old interpreter is left alone.
"""
import os
import sys


def _jem_start():
    here = os.path.dirname(os.path.abspath(__file__))
    # The job's sys.path stays what it would be without the monitor.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if os.environ.get("JEM_RUN_DIR") and sys.version_info >= (3, 9):
        sys.path.insert(0, here)
        try:
            import _jem_trace

            _jem_trace.start()
        except Exception:
            pass
        finally:
            sys.path.remove(here)
    # Chain: the next sitecustomize on the path, if any, runs as it would have.
    me = sys.modules.pop("sitecustomize")
    try:
        import sitecustomize  # noqa: F401
    except ImportError as exc:
        if getattr(exc, "name", "sitecustomize") != "sitecustomize":
            raise
        sys.modules["sitecustomize"] = me


_jem_start()
del _jem_start
