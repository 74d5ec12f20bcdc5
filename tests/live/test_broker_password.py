"""The monitor's broker password (JEMGUI_BROKER_PASSWORD) logs the monitor in and never reaches the
job: on a broker with accounts, the job's code would otherwise hold the monitors' account."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import start_broker

from jemgui.live.local_broker import BrokerAccounts


def test_the_job_does_not_inherit_the_monitors_broker_password(tmp_path):
    accounts = BrokerAccounts.generate()
    broker = start_broker(accounts=accounts)
    try:
        user, password = accounts.monitor
        # the job lives long enough for the monitor to connect, and says what it was given
        job = 'sleep 2; echo "[${JEMGUI_BROKER_PASSWORD:-}]"'
        done = subprocess.run(
            [sys.executable, "-m", "jemgui", "run", "--job-id", "pw-1", "--out", str(tmp_path / "a"),
             "--broker", broker.url, "--broker-user", user, "--", "bash", "-c", job],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "JEMGUI_BROKER_PASSWORD": password})
    finally:
        broker.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
    assert "never reached" not in done.stderr, done.stderr  # the monitor logged in with it
