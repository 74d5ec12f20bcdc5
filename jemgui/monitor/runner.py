"""`Monitor`: runs one job under JEM and records it to an archive (spec section 4).

The job's Python processes record themselves (the tracer in `inject/`, loaded through
PYTHONPATH); its bash scripts write xtrace files that `shells` turns into records.
The monitor itself writes, to its own stream: `state`, `metric`, `log`, `control`,
`marker`, and `process` records of processes that have no stream of their own
(those carry the process's pid in `proc`). It forwards signals, reaps orphans, and
leaves the job's exit status, output bytes and files as they would be without it.

Services (`add_service`) run alongside the job: `start(monitor)` before it begins,
`stop()` after it ended and the manifest holds the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil

from jemgui.monitor import archive
from jemgui.monitor.exits import LAG, ParentView, end_of
from jemgui.monitor.inject import _jem_changes, _jem_trace
from jemgui.monitor.inject._jem_values import redact_argv, redact_text
from jemgui.monitor.output import JobOutput
from jemgui.monitor.processes import (
    PYTHON,
    ExitWatcher,
    Proc,
    ProcessTree,
    children_running,
    command_argv,
    is_zombie,
    untraced_reason,
)
from jemgui.monitor.shells import Shells
from jemgui.monitor.streams import JsonlStream, Streams

#: calls, returns, exceptions and the failing frames' locals at 2-7x the job's own time (README's
#: monitor table); lines (3) and every value (4) cost 4-17x and 35-370x, so they are asked for
DEFAULT_VERBOSITY = 2
#: how verbosity 4 compares locals: what each line may have changed (within a bound), or all of them
VALUE_MODES = ("changed", "exact")
TICK = 0.075  # s between polls of what the job's processes wrote (live records wait this long at most)
TREE_EVERY = 3  # ticks between process-tree scans (0.225 s)
UNTRACED_WAIT = 0.5  # s to look for the process of a command that starts an untraceable Python
OUTPUT_GRACE = 2.0  # s to wait for the job's pipes to close after it exited
INJECT = Path(__file__).resolve().parent / "inject"
JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT")
INTERPRETERS = re.compile(r"^(python[0-9.]*|bash|sh|env)$")
PR_SET_CHILD_SUBREAPER = 36


class MonitorError(ValueError):
    """The job cannot be set up as asked (the message is one line)."""


def default_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


def job_name(argv: list[str]) -> str:
    """A short name for the job: its script, or its program."""
    names = [os.path.basename(a) for a in argv]
    for name in names:
        if name and not name.startswith("-") and not INTERPRETERS.match(name):
            return name
    return names[0] if names else "job"


class Monitor:
    """One job run under JEM: the archive it writes and the handles the live link uses."""

    def __init__(self, command: list[str], *, out: str | os.PathLike | None = None,
                 job_id: str | None = None, verbosity: int = DEFAULT_VERBOSITY,
                 include: list[str] | tuple = (), exclude: list[str] | tuple = (),
                 repr_limit: int = 200, sample_interval: float = 1.0, redact: bool = True,
                 pack: bool = False, name: str | None = None, reaper: bool = False, values: str = "changed"):
        if not command:
            raise MonitorError("no command to run (put it after --)")
        job_id = default_job_id() if job_id is None else job_id
        if not JOB_ID.fullmatch(job_id):
            raise MonitorError(f"job id {job_id!r} is not 1-128 of A-Z a-z 0-9 _ . -")
        if type(verbosity) is not int or not 0 <= verbosity <= 4:
            raise MonitorError(f"verbosity must be 0 to 4, not {verbosity!r}")
        if values not in VALUE_MODES:
            raise MonitorError(f"values must be one of {', '.join(VALUE_MODES)}, not {values!r}")
        if repr_limit < 10:
            raise MonitorError(f"repr limit must be at least 10, not {repr_limit}")
        if not sample_interval > 0:
            raise MonitorError(f"sample interval must be above 0 s, not {sample_interval}")
        self.command = list(command)
        self.include = list(include)
        self.exclude = list(exclude)
        self.repr_limit = repr_limit
        self.sample_interval = float(sample_interval)
        self.redact = redact
        self.pack = pack
        #: adopt the job's orphans and reap every child (only when the process is the monitor alone)
        self.reaper = reaper
        self.pid = os.getpid()
        self.archive_dir = Path(out).absolute() if out else Path.cwd() / f"jem-{job_id}"
        self.events_dir = self.archive_dir / "events"
        self.run_dir = self.archive_dir / archive.RUN_DIR
        argv = redact_argv(self.command) if redact else list(self.command)
        self.job = {
            "id": job_id, "name": name or job_name(self.command),
            "site": os.environ.get("JEM_SITE"), "host": socket.gethostname(),
            "user": os.environ.get("JEM_USER") or _login(), "argv": argv, "cwd": os.getcwd(),
            "started": None, "ended": None, "exit_code": None, "verbosity": verbosity,
            "values_bound": _jem_changes.bound(values == "exact"),
        }
        self.values = values
        self.packed: Path | None = None
        self._verbosity = verbosity
        self._control = {"verbosity": verbosity, "snapshot": None}
        self._control_lock = threading.RLock()
        self._services: list = []
        self._streams = Streams(self.events_dir, self.run_dir / "raw")
        self._stream: JsonlStream | None = None
        self._tree = ProcessTree(self.pid)
        self._shells: Shells | None = None
        self._reaped: dict[int, int] = {}
        self._finished_streams: set[int] = set()
        self._parents = ParentView()  # how the job's shells saw their children end
        self._exit_watch = ExitWatcher()  # how the processes the scans saw ended, from the kernel
        self._exit_written: dict[int, dict] = {}  # exits the monitor wrote for a process
        self._unknown_ends: dict[int, float] = {}  # ended, status not known yet: until when to wait
        self._start_read: set[int] = set()
        self._untraced: set[int] = set()
        self._untraced_commands: set[tuple] = set()  # (shell, argv) of commands that ran one
        self._untraced_pending: list[tuple] = []
        self._stop_ticks = threading.Event()
        self._child: subprocess.Popen | None = None
        self._child_began: float | None = None
        self._status: int | None = None
        self._ending: list[Proc] = []
        self._traced_cache: dict[str, bool] = {}

    # -- the handles other parts use -------------------------------------------------

    @property
    def verbosity(self) -> int:
        return self._verbosity

    def record(self, kind: str, **fields) -> None:
        """Append a record to the monitor's own stream (any thread)."""
        self._stream.record(kind, fields)

    def _marker(self, text: str) -> None:
        """A note in the monitor's stream (markers are recorded from verbosity 1 up)."""
        if self._verbosity >= 1:
            self.record("marker", text=text)

    def set_verbosity(self, level: int) -> None:
        """Change the verbosity of the whole job; every traced process follows within 0.2 s."""
        if type(level) is not int or not 0 <= level <= 4:
            raise MonitorError(f"verbosity must be 0 to 4, not {level!r}")
        old = self._verbosity
        self._verbosity = level
        self.job["verbosity"] = level
        self._write_control(verbosity=level)
        if max(old, level) >= 1:
            self.record("marker", text=f"verbosity {old} -> {level}", verbosity=level)

    def snapshot(self, timeout: float = 2.0) -> dict:
        """The stacks and locals of every thread of the job's running Python processes.

        Each process answers from its own control thread; none is stopped for longer
        than it takes to walk its frames.
        """
        request = uuid.uuid4().hex[:16]
        folder = self.run_dir / "snap" / request
        folder.mkdir(parents=True)
        targets = set(self._live_python())
        self._write_control(snapshot=request)
        deadline = time.monotonic() + timeout
        answers: dict[int, dict] = {}
        while time.monotonic() < deadline:
            for path in folder.glob("*.json"):
                pid = int(path.stem)
                if pid not in answers:
                    try:
                        answers[pid] = json.loads(path.read_text())
                    except (OSError, ValueError):
                        continue
            if targets <= answers.keys():
                break
            targets &= set(self._live_python())
            time.sleep(0.02)
        shutil.rmtree(folder, ignore_errors=True)
        threads = [t for pid in sorted(answers) for t in answers[pid].get("threads", [])]
        missing = sorted(targets - answers.keys())
        result = {"threads": threads}
        if missing:
            result["missing"] = missing
        return result

    def last_seq(self) -> dict[int, int]:
        """The last `seq` written to each stream of the job."""
        return self._streams.last_seq()

    def add_service(self, service) -> None:
        """Run `service.start(self)` with the job and `service.stop()` after it."""
        self._services.append(service)

    # -- running ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the archive folder, the manifest and the monitor's own stream (once)."""
        with self._control_lock:
            if self._stream is None:
                self._prepare()

    def _prepare(self) -> None:
        if self.archive_dir.exists() and any(self.archive_dir.iterdir()):
            raise MonitorError(f"{self.archive_dir} already exists and is not empty")
        try:
            for sub in ("bash", "py", "snap", "raw"):
                (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
            self.events_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorError(f"cannot create {self.archive_dir}: {exc.strerror}") from None
        config = {
            "raw": str(self.run_dir / "raw"), "monitor_pid": self.pid, "verbosity": self._verbosity,
            "include": self.include, "exclude": self.exclude, "repr_limit": self.repr_limit,
            "redact": self.redact, "values": self.values,
        }
        (self.run_dir / _jem_trace.CONFIG_FILE).write_text(json.dumps(config))
        self._write_control()
        self.job["started"] = round(time.time(), 6)
        archive.write_manifest(self.archive_dir, self.job, self.pid)
        self._stream = self._streams.writer(self.pid)
        self._shells = Shells(self.run_dir, self._streams, self.redact, self._shell_command, self._parents)

    def run(self) -> int:
        """Run the job to its end; returns its exit code, or -N when signal N ended it."""
        self.prepare()
        self.record("state", state="STARTED")
        started = []
        try:
            for service in self._services:
                service.start(self)
                started.append(service)
            return self._run_job()
        finally:
            self._finish(started)

    def _run_job(self) -> int:
        previous = self._install_signals()
        if self.reaper:
            _become_subreaper()
        output = JobOutput(self._log, self._marker)
        self._exit_watch.start()
        self._child_began = time.time()
        try:
            self._child = subprocess.Popen(
                self.command, env=self._child_env(), close_fds=False, **output.popen_args(),
            )
        except OSError as exc:
            output.close_child_ends()
            self._restore_signals(previous)
            self._marker(text=f"the job did not start: {exc.strerror or exc}")
            self._status = 127 if isinstance(exc, FileNotFoundError) else 126
            raise
        output.start()
        self.record("state", state="RUNNING")
        ticker = threading.Thread(target=self._tick_loop, name="jem-monitor", daemon=True)
        ticker.start()
        try:
            status = self._wait_for_job()
        finally:
            self._restore_signals(previous)
        output.finish(OUTPUT_GRACE)
        self._stop_ticks.set()
        ticker.join()
        self._child.returncode = status
        self._status = status
        return status

    def _wait_for_job(self) -> int:
        """Reap children (the job, and as reaper the orphans it left) until the job ends."""
        child = self._child.pid
        while True:
            try:
                pid, status = os.waitpid(-1 if self.reaper else child, 0)
            except ChildProcessError:
                return self._reaped.get(child, 0)
            code = os.waitstatus_to_exitcode(status)
            self._reaped[pid] = code
            if pid == child:
                return code

    def _finish(self, services: list) -> None:
        status = self._status
        self._final_records(status)
        self._exit_watch.stop()
        if status is None:
            self.record("state", state="FAILED")
        elif status < 0:
            self.record("state", state="KILLED")
        else:
            self.record("state", state="DONE" if status == 0 else "FAILED")
        self._streams.flush()
        self.job["ended"] = round(time.time(), 6)
        if status is not None:
            self.job["exit_code"] = 128 - status if status < 0 else status
            if status < 0:
                self.job["signal"] = -status
        archive.write_manifest(self.archive_dir, self.job, self.pid)
        for service in reversed(services):
            try:
                service.stop()
            except Exception as exc:  # a service must not cost the job its archive
                self._marker(text=f"service {type(service).__name__} failed: {exc}")
        self._streams.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.pack:
            self.packed = archive.pack(self.archive_dir)

    # -- the job's environment and signals ---------------------------------------------

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["JEM_RUN_DIR"] = str(self.run_dir)
        env["JEM_JOB_ID"] = self.job["id"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(INJECT), env.get("PYTHONPATH")]))
        if env.get("BASH_ENV"):
            env["JEM_BASH_ENV_ORIG"] = env["BASH_ENV"]
        env["BASH_ENV"] = str(INJECT / "jem_bash_env.sh")
        return env

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for name in FORWARDED:
            signum = getattr(signal, name, None)
            if signum is not None:
                previous[signum] = signal.signal(signum, self._forward)
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _forward(self, signum, frame) -> None:
        """Pass a signal on to the job (unless the terminal already sent it there too)."""
        name = signal.Signals(signum).name
        if name in TERMINAL_SIGNALS and _terminal_foreground():
            self._marker(text=f"{name} from the terminal reached the job directly")
            return
        try:
            os.kill(self._child.pid, signum)
            self._marker(text=f"{name} forwarded to the job")
        except (ProcessLookupError, AttributeError):
            pass

    # -- what runs every tick --------------------------------------------------------------

    def _tick_loop(self) -> None:
        ticks = 0
        next_sample = time.monotonic()
        while not self._stop_ticks.wait(TICK):
            ticks += 1
            try:
                self._poll_streams()
                sample_due = time.monotonic() >= next_sample
                if sample_due or ticks % TREE_EVERY == 0:
                    self._scan_tree()
                self._learn_ends()
                self._name_untraced()
                if sample_due:
                    next_sample += self.sample_interval
                    self._sample()
                self._streams.flush()
            except Exception as exc:  # the monitor's faults must not stop the job
                self._marker(text=f"monitor fault: {type(exc).__name__}: {exc}")

    def _sample(self) -> None:
        values = self._tree.sample(time.time())
        if self._verbosity >= 1:
            self.record("metric", values=values)

    def _scan_tree(self, final: bool = False) -> None:
        started, ended = self._tree.scan()
        for proc in started:
            self._parents.started(proc.pid, proc.ppid, proc.began, exact=False)
            if "status" not in proc.extra:
                self._exit_watch.watch(proc.pid)
            reason = untraced_reason(proc.argv)
            if reason:
                self._untraceable(proc.pid, proc.ppid, proc.argv, reason)
            if reason or not _may_have_stream(proc):
                self._record_start(proc)
        waiting = []
        for proc in self._ending + ended:
            # The monitor's own children end once it has reaped them (it learns the status).
            if not final and proc.pid not in self._reaped and _child_of(proc.pid, self.pid):
                waiting.append(proc)
            else:
                self._process_ended(proc)
        self._ending = waiting

    def _record_start(self, proc: Proc) -> None:
        """A process that writes no stream of its own gets one from the monitor (its start at
        the kernel's start time), unless its pid already has one (a traced shell exec'd it)."""
        proc.recorded = True
        if proc.pid in self._streams.writers:
            return
        argv = redact_argv(proc.argv) if self.redact else proc.argv
        self._streams.writer(proc.pid).record("process", {
            "phase": "start", "argv": argv, "ppid": proc.ppid, "cwd": proc.cwd, "lang": "other",
        }, proc.began)

    def _process_ended(self, proc: Proc) -> None:
        """A process of the job is gone: make sure its end is recorded once."""
        code = self._reaped.get(proc.pid, proc.extra.get("status", self._exit_watch.statuses.get(proc.pid)))
        end = {"exit_code": code} if code is None or code >= 0 else {"signal": -code}
        self._poll_streams()
        if proc.pid not in self._streams.writers:
            if PYTHON.match(os.path.basename(proc.argv[0]) if proc.argv else ""):
                self._untraceable(proc.pid, proc.ppid, proc.argv, _why_no_records(code))
            if not proc.recorded:
                self._record_start(proc)
        if code is None and proc.pid not in self._parents.known:
            # its parent shell may tell how it ended: wait for that a little
            self._unknown_ends.setdefault(proc.pid, time.monotonic() + LAG + 2 * TICK * TREE_EVERY)
            return
        self._end_stream(proc.pid, end)

    def _learn_ends(self, final: bool = False) -> None:
        """Tie the statuses the shells reported to their children; end the processes that
        waited for theirs (or waited long enough)."""
        for pid in list(self._streams.writers):
            if pid not in self._start_read and pid != self.pid:
                start = _first_record(self.events_dir / f"{pid}.jsonl")
                if start is not None:
                    self._start_read.add(pid)
                    if start.get("kind") == "process" and start.get("phase") == "start":
                        exact = start.get("lang") != "other"  # "other": the kernel's tick, by the monitor
                        self._parents.started(pid, start.get("ppid"), start.get("ts"), exact)
        self._parents.resolve(time.time(), final)
        now = time.monotonic()
        for pid, until in list(self._unknown_ends.items()):
            if final or pid in self._parents.known or pid in self._exit_watch.statuses or now > until:
                del self._unknown_ends[pid]
                self._end_stream(pid, {"exit_code": None})

    def _untraceable(self, pid: int | None, ppid: int, argv: list[str], reason: str,
                     where: str = "") -> None:
        """A Python the tracer cannot enter: the archive says so, naming it."""
        if pid is not None:
            if pid in self._untraced or (not where and (ppid, tuple(argv)) in self._untraced_commands):
                return  # noted already, or will be by the shell's command that ran it
            self._untraced.add(pid)
        shown = " ".join(redact_argv(argv) if self.redact else argv)
        who = f"process {pid}" if pid is not None else "a process"
        fields = {"text": f"{who} ({shown}){where} is not traced: {reason}", "untraced": True}
        if pid is not None:
            fields["proc"] = pid
        if self._verbosity >= 1:
            self.record("marker", **fields)

    def _shell_command(self, shell: int, file: str, line: int, text: str) -> None:
        """A traced shell runs a command: a Python it starts with -I/-E/-S is noted even
        when it ends before the tree scan could see it."""
        argv = command_argv(text)
        reason = untraced_reason(argv)
        if reason:
            where = f" at {file or 'bash -c'}:{line}"
            self._untraced_pending.append((time.monotonic() + UNTRACED_WAIT, shell, argv, reason, where))
            self._untraced_commands.add((shell, tuple(argv)))

    def _name_untraced(self, final: bool = False) -> None:
        """Name the process of each such command once it runs (it may still be a forked bash
        when the command is read), or the command alone when it ended unseen."""
        waiting = []
        for until, shell, argv, reason, where in self._untraced_pending:
            pid = next(iter(children_running(shell, argv)), None)
            if pid is not None or final or time.monotonic() > until:
                self._untraceable(pid, shell, argv, reason, where)
            else:
                waiting.append((until, shell, argv, reason, where))
        self._untraced_pending = waiting

    def _poll_streams(self, final: bool = False) -> None:
        """Shells first: a script that exec's Python wrote its part before the Python began."""
        self._shells.poll(self._verbosity, self._traced, final=final)
        self._streams.poll_raw(final)

    def _end_stream(self, pid: int, end: dict) -> None:
        """Append the exit record to a process's own stream when it did not write one."""
        if pid in self._finished_streams:
            return
        self._finished_streams.add(pid)
        if end.get("exit_code", 0) is None:
            end = self._learnt_end(pid, wrote_exit=False) or end
        stream = self._streams.writer(pid)
        if not stream.ended:
            stream.record("process", {"phase": "exit", **end})
            self._exit_written[pid] = end

    def _final_records(self, status: int | None) -> None:
        """After the job: last shell commands, ends of every process, a last sample."""
        if self._shells is None:
            return
        self._poll_streams(final=True)
        self._shells.close()
        if self.reaper:
            self._reap_ended()
        self._scan_tree(final=True)
        child = self._child.pid if self._child is not None else None
        if child is not None and child not in self._finished_streams:
            end = {"exit_code": status} if status is None or status >= 0 else {"signal": -status}
            if child not in self._streams.writers:
                self._streams.writer(child).record("process", {
                    "phase": "start", "argv": self.job["argv"], "ppid": self.pid,
                    "cwd": self.job["cwd"], "lang": "other"}, self._child_began)
            self._end_stream(child, end)

        # Streams of processes too short-lived for the tree scan, ended without a word.
        self._poll_streams(final=True)
        self._streams.flush()
        self._learn_ends(final=True)
        self._name_untraced(final=True)
        for pid in list(self._streams.writers):
            if pid == self.pid or pid in self._finished_streams:
                continue
            if pid in self._reaped or not psutil.pid_exists(pid) or is_zombie(pid):
                code = self._reaped.get(pid)
                self._end_stream(pid, {"signal": -code} if code and code < 0 else {"exit_code": code})
        self._correct_ends()

    def _learnt_end(self, pid: int, wrote_exit: bool) -> dict | None:
        """How a process the monitor did not reap ended: as the kernel held it while it was a
        zombie, else as its parent bash saw it; None when nobody knows."""
        status = self._exit_watch.statuses.get(pid)
        if status is not None:
            return {"exit_code": status} if status >= 0 else {"signal": -status}
        if pid in self._parents.known:
            return end_of(self._parents.known[pid], wrote_exit)
        return None

    def _correct_ends(self) -> None:
        """A process whose recorded end is not how it ended (a Python's tracer cannot tell
        `sys.exit(4)` at verbosity 0 or 1) gets a second exit: the kernel's or its parent's word."""
        self._streams.flush()
        for pid in set(self._parents.known) | set(self._exit_watch.statuses):
            if pid in self._reaped or pid not in self._streams.writers:
                continue
            written = self._exit_written.get(pid)
            recorded = written if written is not None else _last_exit(self.events_dir / f"{pid}.jsonl")
            # a status above 128 is an exit code when the process wrote an exit code itself, not
            # when its tracer wrote that a signal ends it (its handler of SIGTERM, say)
            wrote_code = written is None and recorded is not None and recorded.get("signal") is None
            end = self._learnt_end(pid, wrote_exit=wrote_code)
            if recorded is None or end is None:
                continue
            if {k: recorded.get(k) for k in ("exit_code", "signal")} != {"exit_code": None, "signal": None, **end}:
                by = "kernel" if pid in self._exit_watch.statuses else "parent"
                self._streams.writer(pid).record("process", {"phase": "exit", **end, "seen_by": by})

    def _reap_ended(self) -> None:
        """Collect the status of children (adopted orphans) that ended after the job."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._reaped[pid] = os.waitstatus_to_exitcode(status)

    def _log(self, stream: str, text: str) -> None:
        if self._verbosity >= 1:
            self.record("log", stream=stream, text=redact_text(text) if self.redact else text)

    def _traced(self, file: str) -> bool:
        """Is a shell script user code (the tracer's rule, with the job's patterns)?"""
        known = self._traced_cache.get(file)
        if known is None:
            known = self._traced_cache[file] = not (self.include or self.exclude) or (
                _jem_trace.is_traced(file, self.include, self.exclude, ())
            )
        return known

    # -- control channel -----------------------------------------------------------------

    def _write_control(self, **changes) -> None:
        with self._control_lock:
            self._control.update(changes)
            path = self.run_dir / _jem_trace.CONTROL_FILE
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(self._control))
            os.replace(tmp, path)

    def _live_python(self) -> list[int]:
        pids = []
        for path in (self.run_dir / "py").iterdir():
            try:
                pid = int(path.name)
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    pids.append(pid)
            except (ValueError, psutil.Error):
                continue
        return pids


def _child_of(pid: int, parent: int) -> bool:
    """Is `pid` a (maybe dead, not yet reaped) child of `parent`?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1]) == parent
    except (OSError, IndexError, ValueError):
        return False


def _first_record(path: Path) -> dict | None:
    """The first record of a stream file, once it is written."""
    try:
        with open(path, "rb") as f:
            line = f.readline()
        return json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError):
        return None


def _last_exit(path: Path) -> dict | None:
    """The last `process` exit record of a stream file."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - (1 << 16)))
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if b'"phase":"exit"' in line:
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def _why_no_records(code: int | None) -> str:
    """Why a Python process of the job wrote no records, as far as its end tells (a pool worker
    terminated while it started is killed before its tracer was loaded, not untraceable)."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"it wrote no records: {name} ended it while it started, before its tracer was loaded"
    return ("it wrote no records (it ended while it started, before its tracer was loaded; or a Python "
            "older than 3.9, one started without the job's PYTHONPATH, or the tracer failed)")


def _may_have_stream(proc: Proc) -> bool:
    """Processes that may write their own stream (Python, bash) are recorded only if they don't."""
    name = os.path.basename(proc.argv[0]) if proc.argv else ""
    return bool(re.match(r"^(python[0-9.]*|bash)$", name))


def _terminal_foreground() -> bool:
    """Is the monitor in its terminal's foreground group (so the job got the key press too)?"""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def _become_subreaper() -> None:
    """Orphans of the job stay the monitor's children, so their end is seen (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _login() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return ""
