"""Shared test set-up: Qt runs on the offscreen platform, caches go to a temp folder."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """The whole session indexes into its own cache, never the user's (module fixtures too)."""
    saved = os.environ.get("JEMGUI_CACHE_DIR")
    os.environ["JEMGUI_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "jemgui-cache")
    yield
    if saved is None:
        os.environ.pop("JEMGUI_CACHE_DIR", None)
    else:
        os.environ["JEMGUI_CACHE_DIR"] = saved


# -- the CPythons the tracer is tested on ------------------------------------------------------
# The tracer tests are parametrized over every required CPython (tests/monitor/tracing.py);
# one that is missing fails its tests with a one-line reason instead of dropping out of the run,
# and the run says which interpreters, and so which tracer back-ends, it covered.

_traced: dict[str, set[str]] = {}  # version -> outcomes of its tracer tests


def _tracer_version(item) -> str | None:
    """The CPython a tracer test runs on: its parameter that names one of tracing.PYTHONS."""
    from tests.monitor.tracing import PYTHONS

    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((v for v in params.values() if isinstance(v, str) and v in PYTHONS), None)


def pytest_report_header(config):
    from tests.monitor.tracing import MISSING_PYTHONS, PYTHONS, backend

    found = [f"{v} ({backend(v)})" for v in PYTHONS if v not in MISSING_PYTHONS]
    lines = ["tracer CPythons: " + ", ".join(found)]
    lines += [f"tracer CPythons MISSING: {why}" for why in MISSING_PYTHONS.values()]
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from tests.monitor.tracing import MISSING_PYTHONS

    version = _tracer_version(item)
    if version in MISSING_PYTHONS:
        pytest.fail(MISSING_PYTHONS[version], pytrace=False)


def pytest_runtest_logreport(report):
    version = getattr(report, "jem_python", None)
    if version and (report.when == "call" or report.outcome != "passed"):
        _traced.setdefault(version, set()).add(report.outcome)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().jem_python = _tracer_version(item)


def pytest_terminal_summary(terminalreporter):
    if not _traced:
        return
    from tests.monitor.tracing import backend

    def versions(name):
        return ", ".join(f"{v} ({'/'.join(sorted(_traced[v]))})" for v in _traced
                         if v[:2] == "3." and backend(v) == name) or "none"

    terminalreporter.write_sep("-", "tracer tests ran on")
    for name in ("settrace", "sys.monitoring"):
        terminalreporter.write_line(f"{name}: CPython {versions(name)}")
