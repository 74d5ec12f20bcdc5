"""The live demo's throw-away PKI: a credential its own CA folder trusts, reused while valid, remade when not."""

from __future__ import annotations

import stat

from jemgui.live.credentials import load_pem
from jemgui.live.demo_pki import ensure
from jemgui.live.envelope import ReplayCache, new_command, sign, verify
from jemgui.live.trust import TrustStore


def test_the_demo_user_signs_commands_the_demo_ca_folder_trusts(tmp_path):
    pki = ensure(tmp_path / "pki")
    credential = load_pem(pki.cert, pki.key)
    assert credential.identity_dn == pki.dn == "/DC=org/DC=jemgui-demo/CN=Demo User"
    assert not credential.warnings  # the key is private to its owner
    assert stat.S_IMODE(pki.key.stat().st_mode) == 0o600
    checked = verify(sign(new_command("demo", "ping"), credential), "demo",
                     TrustStore.from_dir(pki.ca_dir), ReplayCache())
    assert checked.identity_dn == pki.dn


def test_reused_while_valid_remade_when_broken_or_expiring(tmp_path):
    folder = tmp_path / "pki"
    first = ensure(folder).cert.read_bytes()
    assert ensure(folder).cert.read_bytes() == first
    (folder / "userkey.pem").write_text("not a key")
    second = ensure(folder).cert.read_bytes()
    assert second != first
    load_pem(folder / "usercert.pem", folder / "userkey.pem")
    (folder / "usercert.pem").unlink()
    short = ensure(folder, days=0).cert.read_bytes()  # valid for less than a day: made again
    assert ensure(folder).cert.read_bytes() not in (first, second, short)
    assert len(list((folder / "certificates").iterdir())) == 1
