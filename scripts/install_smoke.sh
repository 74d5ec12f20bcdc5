#!/usr/bin/env bash
# Install jemgui as a user does (its wheel into a fresh venv, outside the checkout) and use it there:
# the demo at its failure (the picture checked), a bash job calling Python recorded with both kinds
# of records, the shipped demo archive summarized and its failure inspected by its PID:SEQ, the live
# demo with the embedded ActiveMQ, and a missing part refused with exit 4.
#   scripts/install_smoke.sh [--no-live]      (the live demo needs ActiveMQ: ./dev system installs it)
# Any failed check stops the script with "install smoke: FAILED: ..." and exit 1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
LIVE=1
[ "${1:-}" = --no-live ] && LIVE=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jemgui-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "install smoke: FAILED: $*" >&2; exit 1; }
step() { echo "install smoke [${SECONDS}s]: $*" >&2; }

if [ "$LIVE" = 1 ]; then "$ROOT/dev" system; fi  # Debian's activemq and Qt's offscreen libraries
step "building the wheel"
# What a wheel build would leave (CI's tests run beside this and make caches of their own).
outputs() { cd "$ROOT" && ls -d build dist 2>/dev/null || true; }
before=$(outputs)
wheel=$("$ROOT/scripts/build_wheel.sh" "$WORK/wheel")
[ "$(outputs)" = "$before" ] || fail "building the wheel left build/ or dist/ in the clone"
# pyproject.toml lists the packages by hand: a folder left out would be missing without a word
(cd "$ROOT" && git ls-files jemgui resources) | "$PY" -c '
import email
import sys
import zipfile

wheel = zipfile.ZipFile(sys.argv[1])
names = set(wheel.namelist())
want = {"jemgui/" + f if f.startswith("resources/") else f for f in sys.stdin.read().split()}
missing = sorted(want - names)
meta = email.message_from_bytes(wheel.read("jemgui-0.1.0.dist-info/METADATA"))
spdx = meta["License-Expression"]
licensed = spdx == "Apache-2.0" and "jemgui-0.1.0.dist-info/licenses/LICENSE" in names
print(f"install smoke: the wheel has {len(want) - len(missing)} of the {len(want)} files of jemgui/ and"
      f" resources/, license {spdx}", file=sys.stderr)
if missing:
    print("install smoke: not in the wheel: " + " ".join(missing[:10]), file=sys.stderr)
sys.exit(1 if missing or len(want) < 100 or not licensed else 0)
' "$wheel" || fail "the wheel lacks files of the package, or its license"
step "installing $(basename "$wheel") into a fresh venv in $WORK"
"$PY" -m venv "$WORK/venv"
# --no-compile halves the install; the modules used are compiled when first imported
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check --no-compile "$wheel"

mkdir "$WORK/run"
cd "$WORK/run"
unset PYTHONPATH VIRTUAL_ENV
export PATH="$WORK/venv/bin:$PATH" JEMGUI_CACHE_DIR="$WORK/cache" QT_QPA_PLATFORM=offscreen
VPY="$WORK/venv/bin/python"
where=$("$VPY" -c 'import jemgui; print(jemgui.__file__)')
[[ $where == "$WORK/venv/"* ]] || fail "jemgui is imported from $where, not from the fresh venv"
step "jemgui comes from $where"

step "jemgui demo --screenshot"
jemgui demo --screenshot demo.png || fail "jemgui demo --screenshot exited $?"
recorded=$("$VPY" -c 'from jemgui.models.cache import cache_dir; print(cache_dir() / "demo" / "reco_task_17")')
"$VPY" "$ROOT/scripts/check_demo_picture.py" "$recorded" demo.png || fail "the demo picture is not the demo job at its failure"

step "jemgui run -- bash wrapper.sh (a bash job that calls Python)"
cat > work.py <<'EOF'
import sys


def square(x):
    return x * x


print(sum(square(i) for i in range(int(sys.argv[1]))))
EOF
cat > wrapper.sh <<EOF
#!/usr/bin/env bash
set -e
echo "wrapper: start"
$("$PY" -c 'import sys; print(sys.executable)') work.py 4
echo "wrapper: done"
EOF
out=$(jemgui run --job-id wrapper --out wrapped -- bash wrapper.sh) || fail "jemgui run exited $?"
[[ $out == *"wrapper: done"* ]] || fail "the wrapper's output did not come through: $out"
jemgui export wrapped --format jsonl -o wrapped.jsonl || fail "jemgui export exited $?"
"$VPY" - wrapped.jsonl <<'EOF' || fail "the wrapper's archive lacks shell commands or Python calls"
import json
import sys

recs = [json.loads(line) for line in open(sys.argv[1])]
commands = [r["text"] for r in recs if r.get("kind") == "command"]
calls = [r["func"] for r in recs if r.get("kind") == "call"]
print(f"install smoke: {len(commands)} shell commands, {len(calls)} Python calls "
      f"({calls.count('square')} of square)", file=sys.stderr)
sys.exit(0 if any("work.py 4" in c for c in commands) and calls.count("square") == 4 else 1)
EOF

step "jemgui summary of the shipped demo archive, and inspect --record at its failure"
shipped=$("$VPY" -c 'from jemgui.resources import resource_path; print(resource_path("demo", "archive"))')
[[ $shipped == "$WORK/venv/"* ]] || fail "the shipped archive is $shipped, not in the venv"
summary=$(jemgui summary "$shipped") || fail "jemgui summary exited $?"
echo "$summary" | grep -q "Outcome   exit code 1" || fail "the summary does not show exit code 1: $summary"
record=$(echo "$summary" | grep -o "record [0-9]*:[0-9]*" | head -1 | cut -d' ' -f2)
[ -n "$record" ] || fail "the summary names no record as PID:SEQ: $summary"
jemgui inspect "$shipped" --record "$record" >/dev/null || fail "inspect --record $record (from summary) exited $?"

if [ "$LIVE" = 1 ]; then
  step "jemgui demo --live --screenshot (the embedded ActiveMQ)"
  jemgui demo --live --screenshot live.png || fail "jemgui demo --live --screenshot exited $?"
  "$VPY" -c 'import sys; from PySide6.QtGui import QImage; i = QImage("live.png"); sys.exit(i.isNull() or i.width() < 800)' \
    || fail "live.png is not a picture of the window"
fi

step "a missing part: jem_bash_env.sh removed from the installation"
inject=$("$VPY" -c 'from jemgui.monitor.runner import INJECT; print(INJECT)')
rm "$inject/jem_bash_env.sh"
set +e
err=$(jemgui run --out refused -- bash -c 'touch ran' 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" = 4 ] || fail "jemgui run without its bash env file exited $rc, not 4: $err"
[ "$(echo "$err" | wc -l)" = 1 ] || fail "the refusal is not one line: $err"
[ ! -e ran ] || fail "the job ran although a part is missing"
step "refused: $err"
step "all checks passed"
