"""File ▸ Connect takes the checks `jemgui connect` takes (`--ca-dir`, `--job-owner`,
`--require-signed`): it remembers them, refuses what the command line refuses with its words, and
the connection it makes checks the job as the command line would. Against the real ActiveMQ, real
monitored jobs and a real grid PKI."""

from __future__ import annotations

import argparse

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox

from jemgui.cli import main as jemgui_main
from jemgui.commands import connect as connect_command
from jemgui.live.options import checks_from_args
from jemgui.live.trust import grid_dn
from jemgui.views.live_controller import connect_dialog
from jemgui.views.live_dialogs import CREDENTIALS, ConnectDialog, ConnectSettings

OK = QDialogButtonBox.StandardButton.Ok
NOWHERE = "stomp://127.0.0.1:1"  # a valid URL; these dialogs are refused before connecting


def fill(dialog: ConnectDialog, broker: str, job: str = "", ca_dir: str = "", owner: str = "",
         require_signed: bool = False) -> None:
    dialog.broker.setText(broker)
    dialog.credential.setCurrentIndex(list(CREDENTIALS).index("none"))
    dialog.job.setText(job)
    dialog.ca_dir.edit.setText(str(ca_dir))
    dialog.job_owner.setText(owner)
    dialog.require_signed.setChecked(require_signed)


def press_ok(qtbot, dialog: ConnectDialog) -> None:
    qtbot.mouseClick(dialog.buttons.button(OK), Qt.MouseButton.LeftButton)


def cli_error(capsys, *args: str) -> str:
    """What `jemgui connect ARGS` says on its one line, without its "jemgui connect: " prefix."""
    assert jemgui_main(["connect", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jemgui connect: "), err
    return err[0].removeprefix("jemgui connect: ")


def cli_checks(*args: str):
    """The Checks `jemgui connect ARGS` would apply."""
    parser = argparse.ArgumentParser()
    connect_command.add_arguments(parser)
    return checks_from_args(parser.parse_args(["--broker", NOWHERE, *args]))


def anchors(checks) -> list[str]:
    return sorted(grid_dn(ca.subject) for ca in checks.trust._anchors)


def wait(qtbot, condition, seconds: float = 30.0) -> None:
    qtbot.waitUntil(lambda: bool(condition()), timeout=int(seconds * 1000))


def test_the_trust_fields_are_remembered(qtbot, empty_window, settings, pki, monkeypatch):
    monkeypatch.setenv("X509_CERT_DIR", str(pki.ca_dir))
    dialog = ConnectDialog(settings, empty_window)
    qtbot.addWidget(dialog)
    # empty, the CA folder is the command line's default, and the dialog says which one that is
    assert dialog.ca_dir.edit.text() == "" and not dialog.require_signed.isChecked()
    assert dialog.ca_dir.edit.placeholderText() == f"default: {pki.ca_dir}"

    fill(dialog, NOWHERE, "j1", pki.ca_dir, f"  {pki.owner.dn} ", require_signed=True)
    dialog.show()
    press_ok(qtbot, dialog)
    assert not dialog.isVisible(), dialog.error.text()
    assert (dialog.checks.owner, dialog.checks.require_signed) == (pki.owner.dn, True)

    again = ConnectSettings.load(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert (again.ca_dir, again.job_owner, again.require_signed) == (str(pki.ca_dir), pki.owner.dn, True)
    shown = ConnectDialog(settings, empty_window)
    qtbot.addWidget(shown)
    assert (shown.ca_dir.edit.text(), shown.job_owner.text(), shown.require_signed.isChecked()) == \
        (str(pki.ca_dir), pki.owner.dn, True)

    # `jemgui connect` keeps its checks to its command line: saving its values leaves these
    parser = argparse.ArgumentParser()
    connect_command.add_arguments(parser)
    connect_command.settings_from_args(parser.parse_args(["--broker", NOWHERE])).save(settings)
    assert ConnectSettings.load(settings).require_signed is True

    # unchecked and cleared, they are remembered as such (False survives the INI file)
    fill(shown, NOWHERE, "j1")
    shown.show()
    press_ok(qtbot, shown)
    assert not shown.isVisible(), shown.error.text()
    again = ConnectSettings.load(QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert (again.ca_dir, again.job_owner, again.require_signed) == ("", "", False)


def test_trust_options_that_cannot_be_used_are_refused_in_the_dialog_in_the_cli_words(
        qtbot, live, settings, capsys, tmp_path, monkeypatch):
    bad = tmp_path / "no-such-folder"
    said = cli_error(capsys, "--broker", NOWHERE, "--job", "j", "--ca-dir", str(bad))
    dialog = connect_dialog(live)
    fill(dialog, NOWHERE, "j", bad)
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.error.text() == said
    assert said.startswith("--ca-dir: ") and str(bad) in said
    assert live.live is None and settings.value("live/ca_dir") is None  # nothing remembered

    # a folder without a CA certificate in it
    empty = tmp_path / "empty"
    empty.mkdir()
    said = cli_error(capsys, "--broker", NOWHERE, "--job", "j", "--ca-dir", str(empty))
    fill(dialog, NOWHERE, "j", empty)
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.error.text() == said and "no CA certificate" in said

    # the default folder missing: an error only when signatures are required, as on the command line
    monkeypatch.setenv("X509_CERT_DIR", str(bad))
    said = cli_error(capsys, "--broker", NOWHERE, "--job", "j", "--require-signed")
    fill(dialog, NOWHERE, "j", require_signed=True)
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.error.text() == said
    assert live.live is None

    fill(dialog, NOWHERE, "j")
    press_ok(qtbot, dialog)
    assert not dialog.isVisible() and dialog.checks.trust is None
    assert live.live is not None and live.live.checks is dialog.checks
    assert "the job's signatures cannot be checked" in live.statusBar().currentMessage()


@pytest.mark.broker
def test_the_dialog_connection_checks_the_job_as_jemgui_connect_does(qtbot, live, broker, pki, jobs,
                                                                   tmp_path):
    jobs("dlg-signed")
    jobs("dlg-unsigned", signed=False)

    # require signed: the unsigned job is refused, every message dropped, as under
    # `jemgui connect --require-signed` ("0 records ...; N messages dropped that did not verify")
    dialog = connect_dialog(live)
    fill(dialog, broker.url, "dlg-unsigned", pki.ca_dir, require_signed=True)
    press_ok(qtbot, dialog)
    assert not dialog.isVisible(), dialog.error.text()
    cli = cli_checks("--ca-dir", str(pki.ca_dir), "--require-signed")
    assert (dialog.checks.owner, dialog.checks.require_signed) == (cli.owner, cli.require_signed)
    assert anchors(dialog.checks) == anchors(cli)
    controller = live.live.controller
    session, verifier = controller.session, controller.session.follower.verifier
    assert verifier.trust is dialog.checks.trust and verifier.require_signed
    wait(qtbot, lambda: sum(verifier.dropped.values()) >= 5)
    assert session.store.received == 0 and not verifier.signed
    assert all("unsigned" in reason for reason in verifier.dropped)
    wait(qtbot, lambda: "messages dropped that did not verify" in controller.status.link.toolTip())
    assert controller.status.link.text().endswith(" · UNVERIFIED")

    # the right CA folder and owner: the signed job is shown verified, signed by that owner
    dialog = connect_dialog(live)
    assert (dialog.ca_dir.edit.text(), dialog.require_signed.isChecked()) == (str(pki.ca_dir), True)
    fill(dialog, broker.url, "dlg-signed", pki.ca_dir, pki.owner.dn, require_signed=True)
    press_ok(qtbot, dialog)
    assert not dialog.isVisible(), dialog.error.text()
    cli = cli_checks("--ca-dir", str(pki.ca_dir), "--job-owner", pki.owner.dn, "--require-signed")
    assert (dialog.checks.owner, dialog.checks.require_signed) == (cli.owner, True) == (pki.owner.dn, True)
    controller = live.live.controller
    session = controller.session
    wait(qtbot, lambda: session.store.received > 0 and session.store.seal.verified)
    assert pki.owner.dn in session.store.seal.signer
    wait(qtbot, lambda: controller.status.link.text().endswith(" · verified"))
    assert f"signed by {session.store.seal.signer}" in controller.status.link.toolTip()

    # a CA folder that does not hold the job's CA: the same signed job is refused
    other = pki.write_ca_dir(tmp_path / "other-ca", [pki.other_ca])
    dialog = connect_dialog(live)
    fill(dialog, broker.url, "dlg-signed", other, pki.owner.dn, require_signed=True)
    press_ok(qtbot, dialog)
    assert not dialog.isVisible(), dialog.error.text()
    assert anchors(dialog.checks) == anchors(cli_checks("--ca-dir", str(other)))
    session = live.live.controller.session
    verifier = session.follower.verifier
    wait(qtbot, lambda: sum(verifier.dropped.values()) >= 5)
    assert session.store.received == 0 and not verifier.signed
