"""Write the legacy JEM 2 fixtures of this folder (run it to regenerate them).

The messages follow spec section 7 and what the Ganga client that read these
logs expects of them (field names, escapes, `<br>`, `ExactTS` written as
seconds and unpadded microseconds). The job: `run.sh` sets up an environment
and runs `reco.py`, which handles one missing calibration and then dies of a
ZeroDivisionError in event 37; the log also holds the kind of damage real logs
have (a line that does not split, an unknown message, Latin-1 bytes, a time
that goes backwards, a return without a call, unreadable call arguments).

`killed.jmd` is a second job whose worker was lost: no final state, and the
last line cut in the middle.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WD = "/scratch/job4711"
RUN = f"{WD}/run.sh"
RECO = f"{WD}/reco.py"
HOST = "wn042.grid.physik.uni-wuppertal.de"


def esc(text: str) -> str:
    return text.replace("'", "_&1_").replace("=", "_&2_").replace(";", "_&3_")


def br(lines: list[str]) -> str:
    return "<br>".join(esc(x) for x in lines)


class Log:
    """Writes messages with a clock that moves on a little at each one."""

    def __init__(self, start: float, seed: int):
        self.t = start
        self.rnd = random.Random(seed)
        self.lines: list[bytes] = []
        self.next_sample = start

    def exact(self) -> str:
        sec = int(self.t)
        return f"{sec}.{int(round((self.t - sec) * 1e6)) % 1000000}"

    def ts(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.t))

    def tick(self, lo: float = 0.0005, hi: float = 0.02) -> None:
        self.t += self.rnd.uniform(lo, hi)
        if self.t >= self.next_sample:
            self.next_sample += 10.0
            self.resource()

    def raw(self, line: str | bytes) -> None:
        self.lines.append(line if isinstance(line, bytes) else line.encode("utf-8"))

    def put(self, kind: str, *pairs: tuple[str, str], stamp: bool = True) -> None:
        fields = [f"Type={kind}"]
        if stamp:
            fields.append(f"ExactTS={self.exact()}")
        fields += [f"{k}={v}" for k, v in pairs]
        self.raw(";".join(fields))

    # --- message kinds -----------------------------------------------------------

    mem = 1850.0
    tmp_free = 5120.0

    def resource(self) -> None:
        r = self.rnd
        self.mem -= r.uniform(5, 40)
        full = "/tmp" if self.tmp_free < 1 else ""
        self.put(
            "RESOURCE",
            ("TS", self.ts()), ("WN", HOST), ("Load", f"{r.uniform(0.8, 3.9):.2f}"),
            ("Mem", f"{self.mem:.0f}"), ("NetR", f"{r.uniform(0, 900):.1f}"),
            ("NetT", f"{r.uniform(0, 120):.1f}"), ("Workdir", f"{r.randint(18000, 18100)}"),
            ("Tmp", f"{max(self.tmp_free, 0):.0f}"), ("Home", "712"), ("Swap", "2047 "),
            ("FullSys", full),
        )

    def state(self, status: str) -> None:
        self.put("JOBSTATE", ("TS", self.ts()), ("Status", status))

    def bash(self, sub: str, text: str, line: int, frame: str = "???") -> None:
        self.tick()
        self.put("COMMAND", ("SubType", sub), ("Lang", "BASH"), ("Frame", frame),
                 ("Script", RUN), ("Line", str(line)), ("M1", esc(text)))

    def call(self, lang: str, func: str, script: str, line: int, args: str,
             caller: str, caller_at: str) -> None:
        self.tick()
        self.put("COMMAND", ("SubType", "CALL"), ("Lang", lang), ("Frame", func),
                 ("Script", script), ("Line", str(line)), ("M1", esc(args)),
                 ("M2", caller), ("M3", esc(caller_at)))

    def ret(self, lang: str, func: str, script: str, line: int, value: str) -> None:
        self.tick()
        self.put("COMMAND", ("SubType", "RETURN"), ("Lang", lang), ("Frame", func),
                 ("Script", script), ("Line", str(line)), ("M1", esc(value)))

    def exception(self, frame: str, line: int, error: str, reason: str, tb: list[str],
                  code: list[str], variables: dict[str, str]) -> None:
        self.tick(0.0001, 0.0005)
        self.put("EXCEPTION", ("Lang", "PYTHON"), ("Error", error), ("Reason", esc(reason)),
                 ("Frame", frame), ("Script", RECO), ("Line", str(line)), ("TB", br(tb)),
                 ("Code", br(code)), ("Vars", br([f"{k}: {v}" for k, v in variables.items()])))

    def out(self, text: str, err: bool = False) -> None:
        self.tick(0.0001, 0.001)
        self.put("ERRPEEKLINE" if err else "OUTPEEKLINE", ("M1", esc(text)))


def reco_job(log: Log, events: int, fail_at: int | None, damage: bool) -> None:
    """The messages of run.sh and reco.py, in the order the monitor wrote them."""
    log.state("STARTED")
    log.resource()
    log.bash("BUILTIN", f"cd {WD}", 3)
    log.bash("BUILTIN", "export EVENTS=100", 4)
    log.bash("BUILTIN", "export ATHENA_PROC_NUMBER=1", 5)
    log.bash("SYNTAX", '[ -f "data11_7TeV.00178044.AOD.root" ]', 7)
    log.call("BASH", "setup_env", RUN, 11, "{'1': ('', '17.0.4'), '2': ('', 'x86_64-slc5-gcc43-opt')}",
             "???", f"{RUN}:20")
    log.bash("SYNTAX", 'local release="$1"', 12, "setup_env")
    log.bash("EXTERNAL", "source /opt/atlas/software/17.0.4/setup.sh --cmtconfig=x86_64-slc5-gcc43-opt",
             13, "setup_env")
    log.bash("BUILTIN", "echo 'environment 17.0.4 ready'", 14, "setup_env")
    log.ret("BASH", "setup_env", RUN, 15, "0")
    log.out("environment 17.0.4 ready")
    log.bash("EXTERNAL", "python reco.py --events 100 --input data11_7TeV.00178044.AOD.root", 22)
    if damage:
        log.raw("JEM WN module restarted after a broken pipe")
        log.raw(b"")

    argv = "['reco.py', '--events', '100', '--input', 'data11_7TeV.00178044.AOD.root']"
    log.call("PYTHON", "main", RECO, 101, f"{{'argv': ('list', \"{argv}\")}}", "?", f"{RECO}:131")
    log.call("PYTHON", "parse_args", RECO, 12, f"{{'argv': ('list', \"{argv}\")}}", "main", f"{RECO}:102")
    log.ret("PYTHON", "parse_args", RECO, 21,
            "Namespace(events=100, input='data11_7TeV.00178044.AOD.root', calib='calib.db')")
    log.call("PYTHON", "load_calibration", RECO, 24, "{'path': ('str', \"'calib.db'\")}", "main",
             f"{RECO}:103")
    log.ret("PYTHON", "load_calibration", RECO, 33, "{1740: 0.98, 1741: 1.02, 1743: 0.97}")
    log.out("calibration: 3 modules from calib.db")
    for i in range(events):
        if damage and i == 3:
            log.put("HEARTBEAT", ("Seq", "3"))
        if damage and i == 5:
            log.put("COMMAND", ("SubType", "RETURN"), ("Lang", "PYTHON"), ("Frame", "cleanup"),
                    ("Script", RECO), ("Line", "90"), ("M1", "None"))
        if damage and i == 9:
            log.raw("Type=OUTPEEKLINE;ExactTS=???;M1=event 9: no timestamp on this line")
        if damage and i == 12:
            log.raw(f"Type=OUTPEEKLINE;ExactTS={log.exact()};M1=".encode() + "Müller-Lyer cut flow: ok".encode("latin-1"))
        if damage and i == 15:
            log.t -= 5.0
        if damage and i == 18:
            log.raw(f"Type=OUTPEEKLINE;ExactTS={log.exact()};M1=raw semicolon; left unescaped")
        if 20 <= i <= 22:
            log.tmp_free = 0.0
        elif i == 23:
            log.tmp_free = 4800.0
        log.call("PYTHON", "process_event", RECO, 60,
                 f"{{'index': ('int', '{i}'), 'calib': ('dict', '{{1740: 0.98, 1741: 1.02, 1743: 0.97}}')}}",
                 "main", f"{RECO}:112")
        log.tick(0.5, 2.5)
        hits = [round(log.rnd.uniform(0.1, 9.9), 1) for _ in range(log.rnd.randint(3, 6))]
        module = 1742 if i == 7 else 1740 + (i % 2)
        log.call("PYTHON", "read_hits", RECO, 36, f"{{'index': ('int', '{i}')}}", "process_event",
                 f"{RECO}:61")
        log.ret("PYTHON", "read_hits", RECO, 41, repr(hits))
        if damage and i == 27:
            args = "{'hits': ('list', '" + repr(hits)  # cut: not a readable dict
        else:
            args = f"{{'hits': ('list', '{hits!r}'), 'module': ('int', '{module}')}}"
        log.call("PYTHON", "calibrate", RECO, 44, args, "process_event", f"{RECO}:62")
        if i == 7:
            tb = ["Traceback (most recent call last):",
                  f'  File "{RECO}", line 62, in process_event',
                  "    hits = calibrate(hits, module)",
                  f'  File "{RECO}", line 46, in calibrate',
                  "    factor = CALIB[module]",
                  "KeyError: 1742"]
            log.exception("calibrate", 46, "KeyError", "1742", tb,
                          ["def calibrate(hits, module):", "    '''Scale hits by the module factor.'''",
                           "    factor = CALIB[module]", "    return [h * factor for h in hits]"],
                          {"hits": repr(hits), "module": "1742"})
            log.ret("PYTHON", "calibrate", RECO, 46, "None")
            log.out("WARNING: no calibration for module 1742, using 1.0", err=True)
        else:
            log.ret("PYTHON", "calibrate", RECO, 47, repr([round(h * 0.98, 3) for h in hits]))
        width = 0.0 if i == fail_at else round(log.rnd.uniform(0.5, 3.0), 3)
        log.call("PYTHON", "fit_track", RECO, 50,
                 f"{{'hits': ('list', '{hits!r}'), 'width': ('float', '{width}')}}",
                 "process_event", f"{RECO}:63")
        if i == fail_at:
            fail(log, hits)
            return
        log.ret("PYTHON", "fit_track", RECO, 56, f"Track(chi2={log.rnd.uniform(0.2, 4.0):.3f})")
        log.ret("PYTHON", "process_event", RECO, 65, "True")
        log.out(f"event {i}: {len(hits)} hits, track fitted")
    log.ret("PYTHON", "main", RECO, 115, "0")


def fail(log: Log, hits: list[float]) -> None:
    """The ZeroDivisionError that ends reco.py, passing fit_track, process_event, main, <module>."""
    frames = [
        (RECO, 131, "<module>", "    sys.exit(main(sys.argv))"),
        (RECO, 112, "main", "    ok = process_event(index, calib)"),
        (RECO, 63, "process_event", "    track = fit_track(hits, width)"),
        (RECO, 53, "fit_track", "    slope = (hits[-1] - hits[0]) / width"),
    ]
    tb = ["Traceback (most recent call last):"]
    for file, line, func, text in frames:
        tb += [f'  File "{file}", line {line}, in {func}', text]
    tb.append("ZeroDivisionError: float division by zero")
    code = ["def fit_track(hits, width):", "    '''Straight-line fit; width in mm.'''",
            "    n = len(hits)", "    slope = (hits[-1] - hits[0]) / width", "    return Track(chi2=slope * n)"]
    local = {
        "fit_track": {"hits": repr(hits), "width": "0.0", "n": str(len(hits))},
        "process_event": {"index": "37", "calib": "{1740: 0.98, 1741: 1.02, 1743: 0.97}",
                          "hits": repr(hits), "width": "0.0"},
        "main": {"argv": "['reco.py', '--events', '100']", "index": "37", "done": "37"},
        "?": {"__name__": "'__main__'", "sys": "<module 'sys' (built-in)>"},
    }
    for func, line in (("fit_track", 53), ("process_event", 63), ("main", 112), ("?", 131)):
        log.exception(func, line, "ZeroDivisionError", "float division by zero", tb, code, local[func])
        if func != "?":
            log.ret("PYTHON", func, RECO, line, "None")
    for text in tb:
        log.out(text, err=True)
    log.bash("BUILTIN", "rc=1", 23)
    log.bash("SYNTAX", '[ "$rc" -ne 0 ]', 24)
    log.bash("BUILTIN", "echo 'reco failed with exit code 1; see reco.log' >&2", 25)
    log.out("reco failed with exit code 1; see reco.log", err=True)
    log.bash("EXTERNAL", "tar czf reco_logs.tgz reco.log", 26)
    log.bash("BUILTIN", "exit 1", 27)
    log.tick(0.2, 0.4)
    log.state("FINISHED")


def main() -> None:
    log = Log(1296564449.950123, seed=4711)
    reco_job(log, events=40, fail_at=37, damage=True)
    (HERE / "JEM_MON.jmd").write_bytes(b"\n".join(log.lines) + b"\n")

    killed = Log(1296601200.25, seed=17)
    reco_job(killed, events=40, fail_at=None, damage=False)
    cut = max(i for i, line in enumerate(killed.lines[:150]) if b"SubType=CALL" in line)
    lines = killed.lines[: cut + 1]
    lines[-1] = lines[-1][: len(lines[-1]) * 2 // 3]
    (HERE / "killed.jmd").write_bytes(b"\n".join(lines))

    jem_log = b"JEM 0.3.2 worker node module started\nmonitoring run.sh\n"
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, payload in (("JEM_MON.jmd", (HERE / "JEM_MON.jmd").read_bytes()), ("JEM.log", jem_log)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(payload), 1296565850
            tar.addfile(info, io.BytesIO(payload))
    (HERE / "JEM_LOG.tgz").write_bytes(buf.getvalue())


if __name__ == "__main__":
    main()
