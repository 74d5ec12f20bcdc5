"""The window on a live job, against the real ActiveMQ and a real monitored job.

Covers File ▸ Connect and its memory, the list of live jobs, following the
newest record and "back to live", the live status bar (link, flow, holes),
the steering panel (verbosity, a file's tail with search, a snapshot as NOW,
refusals in plain words) and a broker that is down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from jemgui.cli import main as jemgui_main
from jemgui.live.credentials import load_pem
from jemgui.live.local_broker import free_port
from jemgui.views.live_controller import SnapshotBanner, connect_dialog, start
from jemgui.views.live_dialogs import CREDENTIALS, ConnectSettings
from jemgui.views.live_status import GREEN, RED
from tests.live.conftest import events

pytestmark = pytest.mark.broker
OK = QDialogButtonBox.StandardButton.Ok

def credential(pki, who: str, folder: Path):
    return load_pem(*getattr(pki, who).write_pem(folder / who))


def watch(window, broker, job_id: str, cred=None, note: str = ""):
    """Watch `job_id` in `window`; the controller."""
    return start(window, ConnectSettings(broker=broker.url, job=job_id), cred,
                 credential_note=note).controller


def wait(qtbot, condition, seconds: float = 20.0) -> None:
    qtbot.waitUntil(lambda: bool(condition()), timeout=int(seconds * 1000))


def kinds(window) -> set[str]:
    ix = window.inspection.index
    return {r["kind"] for r in ix.iter_records()}


def reply_of(panel, req) -> str:
    return panel._items[req.number].text(2)


def send_and_wait(qtbot, panel, click, seconds: float = 15.0):
    """Click a panel button; the request it sent, once answered."""
    with qtbot.waitSignal(panel.sent, timeout=2000) as sent:
        qtbot.mouseClick(click, Qt.MouseButton.LeftButton)
    req = sent.args[0]
    wait(qtbot, lambda: req.state != "waiting", seconds)
    return req


# -- following -----------------------------------------------------------------------------------


def test_the_window_fills_as_records_arrive_and_follows_the_newest(qtbot, live, broker, pki, job,
                                                                   tmp_path):
    j = job("win-follow", linger=1.5)
    c = watch(live, broker, "win-follow", credential(pki, "owner", tmp_path))
    wait(qtbot, lambda: c.swaps >= 1)
    first = live.inspection.index.count
    assert live.inspection.cursor.pos == first - 1 and c.following
    assert live.windowTitle().endswith("(live)")
    wait(qtbot, lambda: c.swaps >= 2 and live.inspection.index.count > first)
    assert live.inspection.cursor.pos == live.inspection.index.count - 1  # followed the newest
    assert "Back to live" in [a.text() for a in live.go_menu.actions()]  # kept over the rebuild

    wait(qtbot, lambda: c.session.store.records_per_second() > 0)
    c.tick()
    # the window has no CA folder here (no X509_CERT_DIR): the job's signatures cannot be checked
    assert c.status.link.text() == "live: job win-follow · RUNNING · UNVERIFIED"
    assert GREEN in c.status.dot.styleSheet()
    assert re.fullmatch(r"[\d,]+ rec/s · (lag \d+ ms|lag [\d.]+ s)", c.status.flow.text())
    assert not c.status.live_button.isVisible()

    # moving the cursor stops following; the panels grow in place around the record under it
    ins = live.inspection
    cur = ins.cursor
    cur.seek(5)
    rec = ins.index.record(5)
    rows = live.panel("events").model.rowCount()
    assert not c.following
    swaps = c.swaps
    wait(qtbot, lambda: c.swaps > swaps)
    ix = live.inspection.index
    assert live.inspection is ins and live.panel("events").model.rowCount() > rows  # grown, not rebuilt
    assert live.transport_bar.slider.maximum() == ix.count - 1
    assert ix.record(live.inspection.cursor.pos) == rec and live.inspection.cursor.pos != ix.count - 1
    wait(qtbot, lambda: c.waiting > 0)
    c.tick()
    assert c.status.live_button.isVisible() and "new)" in c.status.live_button.text()

    qtbot.mouseClick(c.status.live_button, Qt.MouseButton.LeftButton)  # back to live
    assert c.following and not c.status.live_button.isVisible()
    assert live.inspection.cursor.pos == live.inspection.index.count - 1

    # at the end the window shows every record the job wrote, and says so
    j.stop()
    j.wait()
    wait(qtbot, lambda: c.session.complete and c.final_shown and c.waiting == 0
         and c.shown_count == c.session.writer.written, 30)
    assert live.inspection.index.count == sum(len(r) for r in events(j.archive).values())
    assert live.inspection.index.complete  # the archive's index (merged timeline) replaced the growing one
    assert c.status.flow.text().endswith("records, complete")
    assert c.status.link.text() == "live: job win-follow · DONE · UNVERIFIED"
    assert live.report_button.text() == "✔ input read cleanly"


def test_watching_without_a_credential_shows_what_came_and_the_holes(qtbot, live, broker, pki, job):
    j = job("win-holes")
    j.wait_records(600)
    c = watch(live, broker, "win-holes", None, "no credential found (~/.globus/usercert.pem missing)")
    assert "Commands cannot be sent: no credential found" in c.panel.signer.text()
    assert not c.panel.ping.isEnabled() and not c.panel.set_level.isEnabled()
    # what was published before it joined cannot be asked for: given up, and what came after shows
    wait(qtbot, lambda: c.session.lost())
    first_seq = {pid: r[0][1] + 1 for pid, r in c.session.lost().items()}

    def shown():
        ix = live.inspection.index if live.inspection is not None else None
        return ix is not None and any(ix.pos_of(pid, seq) is not None for pid, seq in first_seq.items())

    wait(qtbot, shown)
    c.tick()
    assert c.status.holes.isVisible() and re.fullmatch(r"holes: ([\d,]+ missing, )?[\d,]+ lost",
                                                     c.status.holes.text())
    assert "no credential to ask the job for missed records" in c.status.holes.toolTip()
    assert RED in c.status.holes.styleSheet()
    wait(qtbot, lambda: any("lost" in b.toolTip() for b in c.holes.bands))  # marked on the timeline
    assert all(band.getViewBox() is live.metrics.left for band in c.holes.bands)


# -- steering ------------------------------------------------------------------------------------


def test_the_owner_steers_the_job_from_the_panel(qtbot, live, broker, pki, job, tmp_path):
    job("win-steer", verbosity=2)
    c = watch(live, broker, "win-steer", credential(pki, "owner", tmp_path))
    panel = c.panel
    assert pki.owner.dn in panel.signer.text()  # who signs, shown before sending
    wait(qtbot, lambda: c.swaps >= 1)
    assert "line" not in kinds(live)
    wait(qtbot, lambda: panel.now_level.text() == "started at 2 (calls)")
    assert panel.level.value() == 2

    panel.level.setValue(3)
    req = send_and_wait(qtbot, panel, panel.set_level)
    assert req.state == "ok" and reply_of(panel, req).startswith("verbosity is now 3 (cap 4)")
    assert panel.now_level.text() == "job at 3 (lines)"
    wait(qtbot, lambda: "line" in kinds(live))  # line records start to arrive

    panel.path.setText("job.log")
    panel.tail.setValue(1)
    req = send_and_wait(qtbot, panel, panel.read_file)
    viewer = panel.viewer
    assert req.state == "ok" and viewer.title.text().startswith("job.log  (last 1,024 of ")
    lines = viewer.text.toPlainText().splitlines()
    assert lines[-1].startswith("step ") and len(viewer.text.toPlainText().encode()) <= 1024
    viewer.search.setText("STEP")
    assert viewer.matches.text() == f"{sum(line.count('step') for line in lines)} matches"
    assert viewer.find() and viewer.text.textCursor().selectedText() == "step"
    viewer.search.setText("no such text")
    assert not viewer.find() and viewer.matches.text() == "0 matches"

    with qtbot.waitSignal(c.snapshot_shown, timeout=15000):
        qtbot.mouseClick(panel.snapshot, Qt.MouseButton.LeftButton)
    stack, local = live.docks["stack"].widget(), live.docks["locals"].widget()
    assert isinstance(stack, SnapshotBanner) and isinstance(local, SnapshotBanner)
    assert "NOW" in live.docks["stack"].windowTitle() and "NOW" in live.docks["locals"].windowTitle()
    funcs = [stack.view.tree.topLevelItem(i).text(0) for i in range(stack.view.tree.topLevelItemCount())]
    assert "<module>" in funcs
    names = {local.view.locals.topLevelItem(i).text(0)
             for i in range(local.view.locals.topLevelItemCount())}
    assert names & {"n", "here", "log", "x", "i"}
    assert "shown in Call stack and Locals as NOW" in reply_of(panel, panel.session.requests[-1])
    swaps = c.swaps
    wait(qtbot, lambda: c.swaps > swaps)  # a new generation keeps the NOW views
    assert isinstance(live.docks["stack"].widget(), SnapshotBanner)
    qtbot.mouseClick(live.docks["stack"].widget().back_button, Qt.MouseButton.LeftButton)
    assert live.docks["stack"].widget() is live.stack_view
    assert live.docks["locals"].widget() is live.locals_view
    assert live.docks["stack"].windowTitle() == "Call stack"

    # every command is in the job's records, with its sender
    def audited():
        ix = live.inspection.index
        return {(r["cmd"], r["sender"]) for r in ix.iter_records() if r["kind"] == "control"}

    wait(qtbot, lambda: {("set_verbosity", pki.owner.dn), ("get_file", pki.owner.dn),
                         ("snapshot", pki.owner.dn)} <= audited())


def test_refusals_are_said_in_plain_words(qtbot, live, broker, pki, job, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(f'cap = 3\nshifters = ["{pki.shifter.dn}"]\n')
    policy.chmod(0o644)
    job("win-refuse", extra=("--policy", str(policy)))

    c = watch(live, broker, "win-refuse", credential(pki, "stranger", tmp_path))
    wait(qtbot, lambda: c.session.connection.connected)
    req = send_and_wait(qtbot, c.panel, c.panel.ping)
    assert req.state == "refused"
    assert reply_of(c.panel, req).startswith(
        "Refused: the job does not trust your certificate (an unknown CA, or a certificate that is "
        "expired or not valid yet)")
    assert RED.lower() in c.panel._items[req.number].foreground(2).color().name().lower()
    assert c.panel.viewer.text.toPlainText().startswith("Refused: the job does not trust")

    c = watch(live, broker, "win-refuse", credential(pki, "shifter", tmp_path))  # replaces the link
    wait(qtbot, lambda: c.session.connection.connected)  # a new link: sent only once it is up
    c.panel.level.setValue(4)
    req = send_and_wait(qtbot, c.panel, c.panel.set_level)
    assert reply_of(c.panel, req).startswith(
        "Refused: you are not allowed to do this: verbosity 4 is above this site's cap of 3 "
        "[forbidden]")
    c.panel.level.setValue(3)
    req = send_and_wait(qtbot, c.panel, c.panel.set_level)
    assert req.state == "ok" and "verbosity is now 3" in reply_of(c.panel, req)
    assert c.panel.history.topLevelItem(0).text(1) == "set_verbosity level 3 (lines)"


# -- connecting --------------------------------------------------------------------------------


def test_the_connect_dialog_lists_live_jobs_and_remembers_its_values(qtbot, live, broker, pki, job,
                                                                    settings, tmp_path):
    job("win-listed")
    cert, key = pki.owner.write_pem(tmp_path / "me")
    dialog = connect_dialog(live)
    dialog.broker.setText("http://nowhere")
    qtbot.mouseClick(dialog.buttons.button(OK), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "http" in dialog.error.text() and live.live is None
    assert settings.value("live/broker") is None  # nothing remembered from a refused form

    dialog.broker.setText(broker.url)
    dialog.user.setText("watcher")
    dialog.password.setText("s3cret-pw")
    dialog.credential.setCurrentIndex(list(CREDENTIALS).index("pem"))
    qtbot.mouseClick(dialog.buttons.button(OK), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "choose the file" in dialog.error.text()
    dialog.cert.edit.setText(str(cert))
    dialog.key.edit.setText(str(key))
    qtbot.mouseClick(dialog.buttons.button(OK), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    # ActiveMQ takes any login here: the password reached the connection, and nowhere else
    assert live.live.connection.password == "s3cret-pw" and live.live.credential is not None

    jobs = live.live.jobs_dialog
    wait(qtbot, lambda: "win-listed" in [jobs.view.table.item(r, 0).text()
                                         for r in range(jobs.view.table.rowCount())])
    row = next(r for r in range(jobs.view.table.rowCount())
               if jobs.view.table.item(r, 0).text() == "win-listed")
    assert jobs.view.table.item(row, 4).text() in ("RUNNING", "running")
    jobs.view.table.selectRow(row)
    qtbot.mouseClick(jobs.watch_button, Qt.MouseButton.LeftButton)
    assert live.live.controller.session.job_id == "win-listed" and not jobs.isVisible()
    wait(qtbot, lambda: live.live.controller.swaps >= 1)

    again = connect_dialog(live)  # the next time, the form is as it was left
    assert (again.broker.text(), again.user.text(), again.credential.currentData(),
            again.cert.edit.text(), again.key.edit.text()) == (broker.url, "watcher", "pem",
                                                               str(cert), str(key))
    assert again.password.text() == ""
    settings.sync()
    assert "s3cret-pw" not in Path(settings.fileName()).read_text()
    again.reject()


def test_a_broker_that_is_down_gives_a_clear_status(qtbot, live, pki, tmp_path):
    url = f"stomp://127.0.0.1:{free_port()}"
    settings = ConnectSettings(broker=url, job="nowhere")
    c = start(live, settings, credential(pki, "owner", tmp_path)).controller
    wait(qtbot, lambda: "refused" in c.status.link.text().lower(), 10)
    assert c.status.link.text().startswith(f"not connected to {url}: ")
    assert RED in c.status.dot.styleSheet()
    req = c.panel.send("ping")
    assert req.state == "unsent" and reply_of(c.panel, req) == "Not sent: the broker cannot be reached"
    live.live.close()
    live.live = None

    link = start(live, ConnectSettings(broker=url))  # no job: the list says why it stays empty
    wait(qtbot, lambda: "refused" in link.jobs_dialog.view.note.text().lower(), 10)
    assert link.jobs_dialog.view.table.rowCount() == 0


# -- the command line --------------------------------------------------------------------------


def test_connect_command_line_errors_are_one_line(capsys, tmp_path):
    assert jemgui_main(["connect", "--broker", "http://x:1"]) == 2
    assert jemgui_main(["connect", "--broker", "stomp://127.0.0.1:1", "--screenshot", "x.png"]) == 2
    assert jemgui_main(["connect", "--broker", "stomp://127.0.0.1:1", "--job", "a/b"]) == 2
    assert jemgui_main(["connect", "--broker", "stomp://127.0.0.1:1", "--job", "j",
                        "--cert", str(tmp_path / "none.pem"), "--screenshot", "x.png"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(line.startswith("jemgui connect: ") for line in err)
    assert "none.pem" in err[3]


def jemgui(*args, timeout=90, env=None):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **(env or {}))
    return subprocess.run([sys.executable, "-m", "jemgui", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.mark.slow
def test_jemgui_connect_screenshot_of_a_running_job(broker, pki, job, tmp_path):
    job("win-cli")
    cert, key = pki.owner.write_pem(tmp_path / "me")
    out = tmp_path / "live.png"
    r = jemgui("connect", "--broker", broker.url, "--job", "win-cli", "--cert", cert, "--key", key,
               "--screenshot", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.stat().st_size > 10_000

    r = jemgui("connect", "--broker", f"stomp://127.0.0.1:{free_port()}", "--job", "win-cli",
               "--screenshot", out, "--wait", "1.5", env={"HOME": str(tmp_path)})
    ours = [line for line in r.stderr.splitlines() if "propagateSizeHints" not in line]  # Qt's noise
    assert r.returncode == 4 and len(ours) == 1  # the broker was never reached
    assert ours[0].startswith("jemgui connect: job win-cli: 0 records within 1.5 s (not connected")


@pytest.mark.slow
def test_demo_live_screenshot(tmp_path):
    out = tmp_path / "demo-live.png"
    started = time.monotonic()
    r = jemgui("demo", "--live", "--screenshot", out, timeout=180,
               env={"JEMGUI_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.stat().st_size > 10_000
    assert time.monotonic() - started < 120
    live = tmp_path / "cache" / "demo" / "live"
    assert (live / "job.log").read_text().startswith("pass 1 of ")
    assert (live / "archive" / "manifest.json").is_file()  # the job was stopped, not left running
    captures = list((tmp_path / "cache" / "live").glob("reco_task_17-live-*"))
    assert captures and (captures[0] / "manifest.json").is_file()
