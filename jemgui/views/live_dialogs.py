"""File ▸ Connect: the broker, its login and TLS files, the credential commands are signed with,
and how the job's signatures are checked.

Everything but secrets is remembered in QSettings (group `live/`): the broker
password and a key's passphrase are asked for and kept in memory only, the
passphrase only until the key is decrypted, once per session. The checks are
those of `jemgui connect`/`follow` (`--ca-dir`, `--job-owner`,
`--require-signed`), made and refused by the same code
(`jemgui.live.options.checks_from_values`), so a shifter who connects from
the menu trusts exactly what the command line would.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

#: credential kinds: settings value -> what the chooser says
CREDENTIALS = {
    "default": "Grid default (X509_USER_PROXY, else ~/.globus/usercert.pem + userkey.pem)",
    "pem": "Certificate and key (PEM files)",
    "p12": "PKCS#12 file (.p12, .pfx)",
    "proxy": "Proxy file",
    "none": "None: watch only, send no command",
}


@dataclass
class ConnectSettings:
    """What the Connect dialog asks for. `password` is never stored.

    The checks (`ca_dir`: "" for the grid default; `job_owner`: "" for none; `require_signed`)
    are None when not given (the settings of `jemgui connect`, whose checks stay on its
    command line): saving then leaves the remembered ones as they were.
    """

    broker: str = ""
    user: str = ""
    password: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    credential: str = "default"
    cert: str = ""
    key: str = ""
    p12: str = ""
    proxy: str = ""
    job: str = ""
    ca_dir: str | None = None
    job_owner: str | None = None
    require_signed: bool | None = None

    SECRET = ("password",)

    @classmethod
    def load(cls, settings: QSettings) -> ConnectSettings:
        out = cls(ca_dir="", job_owner="", require_signed=False)
        for f in fields(cls):
            if f.name in cls.SECRET:
                continue
            default = getattr(out, f.name)
            if isinstance(default, bool):  # an INI file keeps "true"/"false"
                value = settings.value(f"live/{f.name}", default, type=bool)
            else:
                value = settings.value(f"live/{f.name}", default)
            setattr(out, f.name, value if isinstance(value, type(default)) else default)
        if out.credential not in CREDENTIALS:
            out.credential = "default"
        return out

    def save(self, settings: QSettings) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in self.SECRET and value is not None:
                settings.setValue(f"live/{f.name}", value)
        settings.sync()

    def checks(self, warn=None):
        """The `Checks` of these settings, as `jemgui connect` makes them from its options:
        OptionError (a ValueError) with the command line's one line when they cannot be used,
        `warn(text)` when they can but nothing will verify."""
        from jemgui.live.options import checks_from_values

        return checks_from_values((self.ca_dir or "").strip() or None, self.job_owner,
                                  bool(self.require_signed), warn)

    def connection(self, name: str = "jemgui-window"):
        """A (not started) Connection for these settings; ValueError with one line when they do not fit."""
        from jemgui.live.connection import Connection, TLSFiles
        from jemgui.live.url import parse_broker_url

        url = parse_broker_url(self.broker.strip())
        tls = None
        if url.tls:
            for label, path in (("CA file", self.tls_ca), ("client certificate", self.tls_cert),
                                ("client key", self.tls_key)):
                if path and not Path(path).is_file():
                    raise ValueError(f"{label} {path}: no such file")
            tls = TLSFiles(ca=self.tls_ca or None, cert=self.tls_cert or None, key=self.tls_key or None)
        return Connection(url, user=self.user or None, password=self.password or None, tls=tls, name=name)

    def load_credential(self, ask_passphrase):
        """The signing credential these settings name, or None for "none".

        `ask_passphrase(what) -> str | None` is called only when the key is
        encrypted; None (cancelled) raises CredentialError.
        """
        from jemgui.live.credentials import CredentialError, load

        if self.credential == "none":
            return None

        def passphrase():
            answer = ask_passphrase(self.p12 or self.key or "your key")
            if answer is None:
                raise CredentialError("no passphrase given: commands cannot be signed")
            return answer

        kind = self.credential
        return load(self.cert or None if kind == "pem" else None,
                    self.key or None if kind == "pem" else None,
                    p12=self.p12 or None if kind == "p12" else None,
                    proxy=self.proxy or None if kind == "proxy" else None,
                    passphrase=passphrase)


def ask_passphrase(parent: QWidget | None, what: str) -> str | None:
    """Ask for a key's passphrase (hidden input); None when cancelled. Never stored."""
    text, ok = QInputDialog.getText(parent, "Passphrase", f"Passphrase for {what}:",
                                    QLineEdit.EchoMode.Password)
    return text if ok else None


class _FileField(QWidget):
    """A path with a Browse button (for a file, or a folder with `folder=True`)."""

    def __init__(self, title: str, parent: QWidget | None = None, folder: bool = False):
        super().__init__(parent)
        self.title = title
        self.folder = folder
        self.edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self) -> None:
        start = self.edit.text() or self.edit.placeholderText().removeprefix("default: ")
        if not start or not Path(start).exists():
            start = str(Path.home())
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.title, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.title, start)
        if path:
            self.edit.setText(path)


class ConnectDialog(QDialog):
    """Asks for a `ConnectSettings`; checks the broker URL, the files and the trust options before
    accepting. Once accepted, `checks` holds the `Checks` made (and `warnings` what they said)."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Connect to a live job")
        self.qsettings = settings
        values = ConnectSettings.load(settings)
        self.broker = QLineEdit(values.broker)
        self.broker.setPlaceholderText("stomp://broker.example.org:61613 or stomp+ssl://…")
        self.user = QLineEdit(values.user)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("not remembered")
        self.tls_ca = _FileField("CA certificates of the broker")
        self.tls_cert = _FileField("Client certificate for TLS")
        self.tls_key = _FileField("Key of the client certificate")
        self.credential = QComboBox()
        for kind, text in CREDENTIALS.items():
            self.credential.addItem(text, kind)
        self.cert = _FileField("Your certificate (PEM)")
        self.key = _FileField("Your key (PEM)")
        self.p12 = _FileField("Your PKCS#12 file")
        self.proxy = _FileField("Your proxy")
        self.job = QLineEdit(values.job)
        self.job.setPlaceholderText("empty: choose from the jobs the broker announces")
        from jemgui.live.options import default_ca_dir

        self.ca_dir = _FileField("Trusted CA certificates (a grid CA folder)", folder=True)
        self.ca_dir.edit.setText(values.ca_dir)
        self.ca_dir.edit.setPlaceholderText(f"default: {default_ca_dir()}")
        self.ca_dir.setToolTip("The CA certificates the job's signature must chain to "
                               "(empty: X509_CERT_DIR, then /etc/grid-security/certificates)")
        self.job_owner = QLineEdit(values.job_owner)
        self.job_owner.setPlaceholderText("optional: the first verified signer, or the DN the job announces")
        self.job_owner.setToolTip("The job's owner (/DC=…/CN=…), whose signature its messages must carry")
        self.require_signed = QCheckBox("drop every message that does not verify, unsigned ones included")
        self.require_signed.setChecked(values.require_signed)
        self.checks = None
        self.warnings: list[str] = []
        for name in ("tls_ca", "tls_cert", "tls_key", "cert", "key", "p12", "proxy"):
            getattr(self, name).edit.setText(getattr(values, name))
        self.credential.setCurrentIndex(list(CREDENTIALS).index(values.credential))

        self.form = QFormLayout()
        self.form.addRow("Broker URL", self.broker)
        self.form.addRow("Login", self.user)
        self.form.addRow("Password", self.password)
        self.form.addRow("TLS: broker CA", self.tls_ca)
        self.form.addRow("TLS: certificate", self.tls_cert)
        self.form.addRow("TLS: key", self.tls_key)
        self.form.addRow("Sign commands with", self.credential)
        self.form.addRow("Certificate", self.cert)
        self.form.addRow("Key", self.key)
        self.form.addRow("PKCS#12", self.p12)
        self.form.addRow("Proxy", self.proxy)
        self.form.addRow("Job", self.job)
        self.form.addRow("Job's CA folder", self.ca_dir)
        self.form.addRow("Job's owner (DN)", self.job_owner)
        self.form.addRow("Require signed", self.require_signed)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b71c1c;")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.buttons = buttons
        self.broker.textChanged.connect(self._update_rows)
        self.credential.currentIndexChanged.connect(self._update_rows)
        self._update_rows()
        self.resize(640, self.sizeHint().height())

    def values(self) -> ConnectSettings:
        return ConnectSettings(
            broker=self.broker.text().strip(), user=self.user.text().strip(), password=self.password.text(),
            tls_ca=self.tls_ca.edit.text(), tls_cert=self.tls_cert.edit.text(), tls_key=self.tls_key.edit.text(),
            credential=self.credential.currentData(), cert=self.cert.edit.text(), key=self.key.edit.text(),
            p12=self.p12.edit.text(), proxy=self.proxy.edit.text(), job=self.job.text().strip(),
            ca_dir=self.ca_dir.edit.text().strip(), job_owner=self.job_owner.text().strip(),
            require_signed=self.require_signed.isChecked())

    def _update_rows(self, *_) -> None:
        tls = self.broker.text().strip().startswith("stomp+ssl://")
        kind = self.credential.currentData()
        shown = {self.tls_ca: tls, self.tls_cert: tls, self.tls_key: tls, self.cert: kind == "pem",
                 self.key: kind == "pem", self.p12: kind == "p12", self.proxy: kind == "proxy"}
        for widget, visible in shown.items():
            self.form.setRowVisible(widget, visible)

    def accept(self) -> None:  # Qt override: check first, remember, then close
        values = self.values()
        try:
            values.connection()
            if values.job:
                from jemgui.live.protocol import JOB_ID

                if not JOB_ID.fullmatch(values.job):
                    raise ValueError(f"{values.job!r} is not a job id (letters, digits, _ . -)")
            chosen = {"pem": [values.cert, values.key], "p12": [values.p12],
                      "proxy": [values.proxy]}.get(values.credential, [])
            if chosen and not chosen[0]:
                raise ValueError(f"choose the file: {CREDENTIALS[values.credential]}")
            for path in chosen:
                if path and not Path(path).is_file():
                    raise ValueError(f"{path}: no such file")
            warnings: list[str] = []
            checks = values.checks(warnings.append)
        except ValueError as exc:  # OptionError too: the line `jemgui connect` would say
            self.error.setText(str(exc))
            return
        self.checks, self.warnings = checks, warnings
        values.save(self.qsettings)
        super().accept()
