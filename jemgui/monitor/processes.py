"""The job's process tree, found by walking /proc down from the monitor, and what it uses.

Walking `/proc/<pid>/task/<tid>/children` of the known processes costs a few reads
per process, not a scan of every process on the worker node, so the tree can be
polled several times a second. Orphans stay in the tree because the monitor makes
itself their reaper (see `runner`).
"""

from __future__ import annotations

import os
import re
import select
import shlex
import threading
import time
from dataclasses import dataclass, field

import psutil

PYTHON = re.compile(r"^python[0-9.]*$")
#: interpreter options that keep the tracer out (it comes in through PYTHONPATH and site)
UNTRACEABLE = {"I": "isolated mode ignores PYTHONPATH", "E": "PYTHONPATH is ignored",
               "S": "site (which loads the tracer) is not imported"}


def untraced_reason(argv: list[str]) -> str | None:
    """Why a Python started with these arguments cannot be traced (-I, -E, -S), or None."""
    if not argv or not PYTHON.match(os.path.basename(argv[0])):
        return None
    flags = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            if arg == "--check-hash-based-pycs":
                next(args, None)
            continue
        for i, char in enumerate(arg[1:], 1):
            if char in "cm":
                return _reason(flags)
            if char in "WX":
                if i == len(arg) - 1:
                    next(args, None)
                break
            if char in UNTRACEABLE and char not in flags:
                flags.append(char)
    return _reason(flags)


ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PREFIXES = ("exec", "command", "builtin", "nohup", "time", "env")


def command_argv(text: str) -> list[str]:
    """The program and arguments of a command as bash's xtrace shows it (quoted words),
    without the variable assignments and `exec`/`env`-like words before it."""
    try:
        words = shlex.split(text)
    except ValueError:
        return []
    while words and (ASSIGNMENT.match(words[0]) or words[0] in PREFIXES or words[0].startswith("-")):
        words.pop(0)
    return words


def children_running(parent: int, argv: list[str]) -> list[int]:
    """Children of `parent` running now with this argv."""
    found = []
    for pid in _children(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                real = [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0")[:-1]]
        except OSError:
            continue
        if real == argv:
            found.append(pid)
    return found


def _reason(flags: list[str]) -> str | None:
    if not flags:
        return None
    return "; ".join(f"-{f}: {UNTRACEABLE[f]}" for f in flags)


def boot_time() -> float:
    """When the machine booted, to the microsecond (psutil's is whole seconds: starts up to 1 s early)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def start_time(pid: int, booted: float) -> float | None:
    """When the process began (wall clock), from the kernel's count of 10 ms ticks since boot."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    return round(booted + ticks / TICKS, 6)


TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    """One process of the job as the tree saw it."""

    pid: int
    ppid: int
    started: float
    argv: list[str]
    cwd: str
    handle: psutil.Process
    cpu: float = 0.0
    io: tuple[int, int] = (0, 0)
    recorded: bool = False  # the monitor wrote its start
    began: float | None = None  # wall clock, from the kernel's start tick
    extra: dict = field(default_factory=dict)


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def is_zombie(pid: int) -> bool:
    """Has the process ended (gone, or dead and not yet reaped)?"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def zombie_status(pid: int) -> int | None:
    """How a process that ended but is not reaped yet ended, as its parent's waitpid will
    learn it (exit code, or -N for signal N): the kernel keeps it in /proc until then."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] != b"Z":
            return None
        return os.waitstatus_to_exitcode(int(fields[49]))
    except (OSError, IndexError, ValueError):
        return None


class ProcessTree:
    """Processes below `root` (the monitor); `scan()` says which began and which ended."""

    def __init__(self, root: int):
        self.root = root
        self.known: dict[int, Proc] = {}
        self.zombies: set[int] = set()  # ended before a scan saw them run, reported once
        self.io_ended = [0, 0]
        self.last_sample: float | None = None

    def _walk(self) -> set[int]:
        seen: set[int] = set()
        todo = _children(self.root)
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            todo.extend(_children(pid))
        return seen

    def scan(self) -> tuple[list[Proc], list[Proc]]:
        """(processes that appeared, processes that ended) since the last scan."""
        pids = self._walk()
        started, ended = [], []
        for pid in list(self.known):
            proc = self.known[pid]
            if pid not in pids or is_zombie(pid) or not _same(proc):
                status = zombie_status(pid) if pid in pids else None
                if status is not None:
                    proc.extra["status"] = status
                ended.append(self.known.pop(pid))
                self.io_ended[0] += proc.io[0]
                self.io_ended[1] += proc.io[1]
        self.zombies &= pids
        for pid in pids - self.known.keys():
            if is_zombie(pid):
                # it ended between two scans and its parent has not reaped it yet
                proc = None if pid in self.zombies else _describe_zombie(pid)
                if proc is not None:
                    self.zombies.add(pid)
                    started.append(proc)
                    ended.append(proc)
                continue
            proc = _describe(pid)
            if proc is not None:
                self.known[pid] = proc
                started.append(proc)
        return started, ended

    def sample(self, now: float) -> dict[str, float]:
        """Resource use of the whole tree (spec metric names)."""
        cpu = rss = vms = threads = fds = 0.0
        io_read, io_write = self.io_ended
        for proc in list(self.known.values()):
            try:
                with proc.handle.oneshot():
                    times = proc.handle.cpu_times()
                    total = times.user + times.system
                    cpu += total - proc.cpu
                    proc.cpu = total
                    mem = proc.handle.memory_info()
                    rss += mem.rss
                    vms += mem.vms
                    threads += proc.handle.num_threads()
                    fds += proc.handle.num_fds()
                    try:
                        io = proc.handle.io_counters()
                        proc.io = (io.read_bytes, io.write_bytes)
                    except (psutil.AccessDenied, AttributeError):
                        pass
            except (psutil.Error, OSError):
                continue
            io_read += proc.io[0]
            io_write += proc.io[1]
        values: dict[str, float] = {}
        if self.last_sample is not None and now > self.last_sample:
            values["cpu"] = round(100.0 * cpu / (now - self.last_sample), 1)
        self.last_sample = now
        values.update({
            "rss": int(rss), "vms": int(vms), "threads": int(threads), "fds": int(fds),
            "read_bytes": int(io_read), "write_bytes": int(io_write),
            "load1": round(os.getloadavg()[0], 2),
            "mem_avail": int(psutil.virtual_memory().available),
        })
        return values


def _same(proc: Proc) -> bool:
    try:
        return proc.handle.create_time() == proc.started
    except psutil.Error:
        return False


def _describe_zombie(pid: int) -> Proc | None:
    """What the kernel still tells of an ended process: its name, parent, start and status."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        name = data[data.index(b"(") + 1:data.rindex(b")")].decode("utf-8", "replace")
        fields = data.rsplit(b")", 1)[1].split()
        if fields[0] != b"Z":
            return None
        proc = Proc(pid, int(fields[1]), 0.0, [name], "", psutil.Process(pid),
                    began=round(boot_time() + int(fields[19]) / TICKS, 6))
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    proc.extra["status"] = os.waitstatus_to_exitcode(int(fields[49]))
    return proc


def _describe(pid: int) -> Proc | None:
    try:
        handle = psutil.Process(pid)
        with handle.oneshot():
            started = handle.create_time()
            ppid = handle.ppid()
            try:
                argv = handle.cmdline()
            except psutil.AccessDenied:
                argv = [handle.name()]
            try:
                cwd = handle.cwd()
            except (psutil.AccessDenied, OSError):
                cwd = ""
        return Proc(pid, ppid, started, argv, cwd, handle, began=start_time(pid, boot_time()))
    except psutil.Error:
        return None


class ExitWatcher(threading.Thread):
    """Reads the status of each watched process the moment it ends, while it is a zombie
    (before its parent's wait() takes it: a parent that reaps at once, such as
    `subprocess.run`, leaves no time for the tree scan). Holds a pidfd per live process,
    at most `LIMIT` (the monitor's own files need descriptors too)."""

    LIMIT = 256

    def __init__(self):
        super().__init__(name="jem-exits", daemon=True)
        self.statuses: dict[int, int] = {}
        self._fds: dict[int, int] = {}  # pidfd -> pid, kept by this thread
        self._new: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._stopped = False

    def watch(self, pid: int) -> None:
        with self._lock:
            if self._stopped or len(self._fds) + len(self._new) >= self.LIMIT:
                return
            try:
                fd = os.pidfd_open(pid)
            except (OSError, AttributeError):
                return
            self._new.append((fd, pid))
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"x")
        except (BlockingIOError, OSError):
            pass  # already woken

    def run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        while not self._stopped:
            for fd, _ in poller.poll():
                if fd == self._wake_read:
                    os.read(self._wake_read, 4096)
                    with self._lock:
                        for new_fd, pid in self._new:
                            self._fds[new_fd] = pid
                            poller.register(new_fd, select.POLLIN)
                        self._new.clear()
                    continue
                poller.unregister(fd)
                with self._lock:
                    pid = self._fds.pop(fd)
                    os.close(fd)
                status = zombie_status(pid)
                if status is not None:
                    self.statuses[pid] = status

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake()
        if self.is_alive():
            self.join(1.0)
        with self._lock:
            for fd in list(self._fds) + [fd for fd, _ in self._new]:
                os.close(fd)
            self._fds.clear()
            self._new.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)
