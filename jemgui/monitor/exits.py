"""How the job's processes ended, as their parent bash saw it (`$?`, `PIPESTATUS`).

Only a process's parent learns its exit status (waitpid). The monitor is the parent of
the job itself and of the orphans it adopts; every other process is reaped by its own
parent, most often a bash script. Each traced bash writes, with every command of its
xtrace, the pid that printed it (`$BASHPID`) and `${PIPESTATUS[*]}`: the statuses of the
pipeline it ran last. This ties those statuses to processes:

- a command bash ran itself (printed by the shell, then forked): the one child of the
  shell that surely began between that entry and the next, unless it printed entries of
  its own (a subshell or a background job, whose status `$?` does not tell), gets the
  status the next entry shows (a subshell's entries are its own sequence for this);
- a pipeline (its members print their own entries, in a row): its members, in the
  order they were forked (of their pids), get the statuses of the next entry when there
  are as many.

Anything else stays unknown rather than guessed. A status above 128 of a process that
wrote no exit of its own is bash's way of saying a signal ended it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAG = 0.5  # s after the next entry before a window is tied (its processes' starts have arrived)
TICK = 0.011  # the kernel counts starts in 10 ms ticks
PID_WRAP = 1 << 21  # members of one pipeline whose pids lie further apart: the pids wrapped around


@dataclass
class Entry:
    ts: float
    printer: int
    statuses: list[int] | None


@dataclass
class Shell:
    pid: int
    entries: list[Entry] = field(default_factory=list)
    printers: set[int] = field(default_factory=set)  # children that printed entries of their own
    tied: int = 0  # entries[:tied] opened windows already tied


class ParentView:
    """Exit statuses that the job's shells reported for their children."""

    def __init__(self):
        self.shells: dict[int, Shell] = {}
        #: pid -> (ppid, when it began, and whether that is exact): a process's own first record
        #: is later than its fork, the kernel's start tick up to 10 ms earlier
        self.starts: dict[int, tuple[int, float, bool]] = {}
        self.kids: dict[int, set[int]] = {}  # ppid -> children that may still be tied
        self.known: dict[int, int] = {}  # pid -> status as bash shows it
        self.pending: set[int] = set()  # shells with windows not tied yet

    def started(self, pid: int, ppid: int | None, ts: float | None, exact: bool = True) -> None:
        """A process began (`exact`: `ts` is from its own first record, not the kernel's tick)."""
        if ppid is None or ts is None:
            return
        old = self.starts.get(pid)
        if old is None or (exact and not old[2]):
            if old is not None:
                self.kids.get(old[0], set()).discard(pid)
            self.starts[pid] = (ppid, ts, exact)
            self.kids.setdefault(ppid, set()).add(pid)

    def entry(self, shell: int, ts: float | None, printer: int | None, statuses: list[int] | None) -> None:
        """An xtrace entry of `shell` (or its exit, with `statuses` [its exit status])."""
        if ts is None or printer is None:
            return
        entry = Entry(ts, printer, statuses)
        state = self.shells.setdefault(shell, Shell(shell))
        state.entries.append(entry)
        self.pending.add(shell)
        if printer != shell:
            self.pending.add(printer)
            state.printers.add(printer)
            # a subshell (a pipeline's member, `( ... )`) runs commands of its own: its
            # own entries, in its own order, tell how its children ended
            self.shells.setdefault(printer, Shell(printer)).entries.append(entry)

    def resolve(self, now: float, final: bool = False) -> None:
        """Tie the statuses of every window whose processes have had time to show up."""
        for pid in list(self.pending):
            shell = self.shells[pid]
            entries = shell.entries
            for k in range(shell.tied, len(entries) - 1):
                if not final and now < entries[k + 1].ts + LAG:
                    break
                self._window(shell, k)
                shell.tied = k + 1
            keep = min(shell.tied, len(entries) - 1)
            while keep > 0 and entries[keep].printer != shell.pid:
                keep -= 1  # a pipeline's run of entries is read back to its start
            if keep > 0:
                del entries[:keep]
                shell.tied -= keep
            if shell.tied >= len(entries) - 1:
                self.pending.discard(pid)

    def _window(self, shell: Shell, k: int) -> None:
        here, after = shell.entries[k], shell.entries[k + 1]
        statuses = after.statuses
        if not statuses:
            return
        if here.printer == shell.pid:  # a command the shell ran itself
            kids = self._children(shell.pid, here.ts, after.ts, exclude={after.printer})
            if len(statuses) == 1 and len(kids) == 1 and kids[0] not in shell.printers:
                self.known.setdefault(kids[0], statuses[0])
            return
        if after.printer != shell.pid:
            return
        first = k  # a run of entries printed by children, ended by the shell's own: a pipeline
        while first > 0 and shell.entries[first - 1].printer != shell.pid:
            first -= 1
        members = {e.printer for e in shell.entries[first:k + 1]}
        if len(members) < 2 or len(members) != len(statuses):
            return
        # bash forks a pipeline's members left to right: their pids grow in that order (a
        # traced member's own first record comes later than its fork, and the kernel's start
        # ticks are too coarse to tell them apart); pids that wrapped around are left unknown
        order = sorted(members)
        if order[-1] - order[0] > PID_WRAP:
            return
        for pid, status in zip(order, statuses, strict=True):
            self.known.setdefault(pid, status)

    def _children(self, shell: int, begin: float, end: float, exclude: set[int]) -> list[int]:
        """Children of `shell` that may have begun between `begin` and `end` (not tied yet).
        Windows come in time order: a child that began before this one never fits again."""
        found = []
        kids = self.kids.get(shell, set())
        for pid in list(kids):
            _, ts, exact = self.starts[pid]
            latest = ts if exact else ts + TICK
            if pid in self.known or latest <= begin:
                kids.discard(pid)
            elif latest <= end and pid not in exclude:
                found.append(pid)
        return found


def end_of(status: int, wrote_exit: bool) -> dict:
    """The `process` exit fields for a status as bash shows it."""
    if status > 128 and not wrote_exit:
        return {"signal": status - 128}
    return {"exit_code": status}
