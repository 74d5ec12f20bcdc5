"""Shared test set-up: Qt runs on the offscreen platform, caches go to a temp folder."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session indexes into its own cache, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "jemgui-cache"
    monkeypatch.setenv("JEMGUI_CACHE_DIR", str(cache))
