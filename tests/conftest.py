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
