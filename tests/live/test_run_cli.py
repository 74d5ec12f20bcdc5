"""`jemgui run --broker ...` from a shell: the job publishes, is followed and answers its owner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import assert_same_archive, finish_follow, follow_listening, start_follow

#: `turns` loop turns, then (given a file name) waiting until that file exists
JOB = """
import os, sys, time
def turn(i):
    total = i * 2
    return total
for i in range(int(sys.argv[1])):
    turn(i)
    if i % 200 == 0:
        time.sleep(0.05)
while len(sys.argv) > 2 and not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
print("done")
"""


def run_job(tmp_path, url, extra, turns, env=None, hold=None):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    cmd = [sys.executable, "-m", "jemgui", "run", "--job-id", "cli-1", "--out", str(tmp_path / "archive"),
           "--broker", url, *extra, "--", sys.executable, str(script), str(turns),
           *([str(hold)] if hold else [])]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def test_run_publishes_is_followed_and_answers_its_owner(broker, pki, tmp_path, credential):
    follow = start_follow(broker.url, "cli-1", tmp_path / "capture", credential, "--idle-timeout", "30")
    follow_listening(follow, tmp_path / "capture")
    release = tmp_path / "release"  # the job runs until it was pinged
    job = run_job(tmp_path, broker.url, ["--ca-dir", str(pki.ca_dir)], turns=4000, hold=release,
                  env={"X509_USER_PROXY": str(pki.owner_proxy.write_proxy(tmp_path / "proxy.pem"))})
    cert, key = credential
    send = subprocess.run([sys.executable, "-m", "jemgui", "send", "--broker", broker.url, "--job", "cli-1",
                           "--cert", str(cert), "--key", str(key), "ping"],
                          capture_output=True, text=True, timeout=60)
    release.touch()
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    assert out == "done\n"  # the job's own output, unchanged
    assert send.returncode == 0, send.stderr
    assert json.loads(send.stdout)["ok"] is True  # the owner came from X509_USER_PROXY
    code, _, ferr = finish_follow(follow)
    assert code == 0, ferr
    assert_same_archive(tmp_path / "capture", tmp_path / "archive")


def test_run_with_a_bad_broker_url_is_a_usage_error(tmp_path):
    job = run_job(tmp_path, "http://127.0.0.1:1", [], turns=1)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 2
    assert err.startswith("jemgui run: ") and len(err.strip().splitlines()) == 1
    assert out == ""


def test_run_with_no_broker_listening_still_runs_the_job(tmp_path):
    """A dead broker costs nothing but reconnect attempts: the job and its archive are whole."""
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    job = run_job(tmp_path, f"stomp://127.0.0.1:{port}", ["--owner", "/CN=nobody"], turns=500)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    assert out == "done\n"
    assert (tmp_path / "archive" / "manifest.json").exists()


def test_trust_warnings_are_said_once_the_broker_answers(broker, tmp_path):
    """Without a job credential or a CA folder the link still works, unsigned or unverified, and
    says so once the broker answers (when it never does, the one error line stays alone)."""
    env = {"X509_CERT_DIR": str(tmp_path / "no-cas"), "X509_USER_PROXY": str(tmp_path / "no-proxy")}
    job = run_job(tmp_path, broker.url, ["--owner", "/CN=nobody"], turns=50, env=env)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0 and out == "done\n", err
    assert "jemgui run: no job credential (--job-proxy, X509_USER_PROXY)" in err
    listing = subprocess.run([sys.executable, "-m", "jemgui", "jobs", "--broker", broker.url, "--wait", "0.5"],
                             capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.startswith(f"jemgui jobs: CA folder {tmp_path / 'no-cas'} does not exist")
