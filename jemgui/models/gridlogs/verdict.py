"""Site or task? A first verdict on a failed grid job, with the log lines that decided it.

Rules, in order (codes and their reading: `grid-logs.md` section 6, names from
pilot3 `pilot/common/errorcodes.py`):
1. The pilot's first error code (the one it reports) decides when its class is
   clear: stage-in/out, local space, CVMFS, signals from the batch system,
   Singularity are the site's; bad_alloc, SIGSEGV, missing outputs, user code
   and the generic "payload exit != 0" (1305) are the task's. Codes that can go
   either way (looping job, SIGXCPU, out of memory, time limit) are "unclear"
   unless a log line settles them: the kernel's cgroup OOM kill makes 1212 the
   site's.
2. Without a pilot code, the transform's exit code: execution, validation and
   log errors (65, 66, 68) and a crash by SIGSEGV (139) are the task's; a kill
   by SIGKILL or SIGTERM (137, 143) the batch system's, so the site's. An input
   file that "did not pass corruption test" (66 before any executor ran) is
   "unclear": a damaged replica at the site or a bad file from the step before.
3. Without either, evidence in the logs: no space left, cgroup OOM kills,
   CVMFS or network failures point at the site; `std::bad_alloc`, segmentation
   faults and an exception in the user's code (a traceback in the payload's
   output that was not logged as handled) at the task.
A task verdict also shows the last unhandled traceback's exception line.
The evidence is each deciding line as `{file, line, text}`.
"""

from __future__ import annotations

import re

SITE, TASK, UNCLEAR = "site", "task", "unclear"

#: code: (name, class)
PILOT_CODES = {
    1098: ("NOLOCALSPACE", SITE), 1099: ("STAGEINFAILED", SITE), 1100: ("REPLICANOTFOUND", SITE),
    1110: ("SETUPFAILURE", SITE), 1115: ("NFSSQLITE", SITE), 1137: ("STAGEOUTFAILED", SITE),
    1150: ("LOOPINGJOB", UNCLEAR), 1151: ("STAGEINTIMEOUT", SITE), 1152: ("STAGEOUTTIMEOUT", SITE),
    1171: ("GETADMISMATCH", SITE), 1172: ("PUTADMISMATCH", SITE), 1200: ("KILLSIGNAL", SITE),
    1201: ("SIGTERM", SITE), 1204: ("SIGXCPU", UNCLEAR), 1206: ("SIGBUS", SITE),
    1211: ("MISSINGINSTALLATION", SITE), 1212: ("PAYLOADOUTOFMEMORY", UNCLEAR), 1213: ("REACHEDMAXTIME", UNCLEAR),
    1306: ("SINGULARITYGENERALFAILURE", SITE), 1307: ("SINGULARITYNOLOOPDEVICES", SITE),
    1308: ("SINGULARITYBINDPOINTFAILURE", SITE), 1309: ("SINGULARITYIMAGEMOUNTFAILURE", SITE),
    1340: ("SINGULARITYNOTINSTALLED", SITE), 1345: ("SINGULARITYFAILEDUSERNAMESPACE", SITE),
    1348: ("SINGULARITYRESOURCEUNAVAILABLE", SITE), 1320: ("LOGFILECREATIONFAILURE", SITE),
    1327: ("UNREACHABLENETWORK", SITE), 1331: ("MISSINGINPUTFILE", SITE), 1333: ("NOREMOTESPACE", SITE),
    1344: ("RESOURCEUNAVAILABLE", SITE), 1368: ("REMOTEFILEOPENTIMEDOUT", SITE), 1369: ("FRONTIER", SITE),
    1377: ("CVMFSISNOTALIVE", SITE), 1379: ("PREEMPTION", SITE),
    1104: ("USERDIRTOOLARGE", TASK), 1106: ("STDOUTTOOBIG", TASK), 1165: ("MISSINGOUTPUTFILE", TASK),
    1220: ("UNKNOWNPAYLOADFAILURE", TASK), 1223: ("BADALLOC", TASK), 1235: ("PAYLOADEXCEEDMAXMEM", TASK),
    1246: ("NOUSERTARBALL", TASK), 1305: ("PAYLOADEXECUTIONFAILURE", TASK), 1315: ("UNKNOWNTRFFAILURE", TASK),
    1328: ("PAYLOADSIGSEGV", TASK), 1335: ("MISSINGUSERCODE", TASK), 1349: ("UNRECOGNIZEDTRFARGUMENTS", TASK),
    1350: ("EMPTYOUTPUTFILE", TASK), 1355: ("COREDUMP", TASK),
    1144: ("PANDAKILL", UNCLEAR), 1310: ("PAYLOADEXECUTIONEXCEPTION", UNCLEAR), 1319: ("INTERNALPILOTPROBLEM", UNCLEAR),
}
TRF_TASK = {65: "TRF_EXEC_FAIL", 66: "TRF_EXEC_VALIDATION_FAIL", 68: "TRF_EXEC_LOGERROR", 139: "TRF_SIG_SIGSEGV"}
TRF_SITE = {137: "TRF_SIG_SIGKILL", 143: "TRF_SIG_SIGTERM"}

#: (pattern, class, reason) of log lines that are evidence
PATTERNS = [
    (re.compile(r"No space left on device|Disk quota exceeded"), SITE, "no space left on the worker node"),
    (re.compile(r"Memory cgroup out of memory|oom-kill|Killed process \d+"), SITE, "the kernel killed it for memory"),
    (re.compile(r"(?i:cvmfs.*(not alive|failed|error|unavailable))|Transport endpoint is not connected"),
     SITE, "CVMFS failure"),
    (re.compile(r"Network is unreachable|Cannot find a valid frontier connection"), SITE, "network or Frontier failure"),
    (re.compile(r"caught signal: SIG(TERM|KILL|XCPU|BUS)"), SITE, "the batch system sent a kill signal"),
    (re.compile(r"std::bad_alloc|St9bad_alloc"), TASK, "bad_alloc in the payload"),
    (re.compile(r"Segmentation fault|got a SIGSEGV signal|Caught signal 11"), TASK, "segmentation fault"),
    (re.compile(r"did not pass corruption test|failed validation"), UNCLEAR, "a file failed validation"),
]
MAX_EVIDENCE = 8
#: words one of PATTERNS needs, so most lines cost a few substring tests and no regex
WORDS = ("No space", "Disk quota", "out of memory", "oom-kill", "Killed process", "cvmfs", "CVMFS", "Transport endpoint",
         "unreachable", "frontier", "caught signal", "bad_alloc", "Segmentation", "SIGSEGV", "Caught signal",
         "corruption test", "failed validation")


#: one search for any of WORDS (twice as fast per line as seventeen substring tests)
_ANY_WORD = re.compile("|".join(map(re.escape, WORDS)))


def pilot_error(codes: list[int] | None) -> dict | None:
    """The pilot's reported (first) error code with its name."""
    if not codes:
        return None
    name = PILOT_CODES.get(codes[0], (None, None))[0]
    return {"code": codes[0], "name": name}


class Evidence:
    """What the verdict weighs, gathered from every record as it goes by (`feed`), so the
    records never have to be held together: the lines PATTERNS match (with their time),
    the payload's and transform's first FATAL/CRITICAL and ERROR lines, and the pilot's
    lines that name error codes."""

    def __init__(self) -> None:
        self.found: list[tuple[float, str, str, dict]] = []
        self._seen: set[str] = set()
        self.worst: dict[str, list[dict]] = {"bad": [], "error": []}
        self.pilot: list[dict] = []

    def feed(self, r: dict) -> None:
        if r.get("kind") != "log":
            return
        text = r.get("text") or ""
        pid = r.get("pid")
        level = r.get("level")
        if pid != 1 and level in ("FATAL", "CRITICAL", "CATASTROPHE", "ERROR"):
            found = self.worst["error" if level == "ERROR" else "bad"]
            if len(found) < 3:
                found.append(_where(r, text))
        if pid == 1 and len(self.pilot) < 20 and ("pilotErrorCodes" in text or "error has already been set" in text
                                                  or "error code: " in text):
            self.pilot.append(_where(r, text))
        if not _ANY_WORD.search(text):
            return
        hit = next((p for p in PATTERNS if p[0].search(text)), None)
        if hit is None:
            return
        _, cls, reason = hit
        key = f"{reason}|{r.get('logfile')}"
        if key not in self._seen or len(self.found) < MAX_EVIDENCE:
            self._seen.add(key)
            self.found.append((r.get("ts", 0.0), cls, reason, _where(r, text)))

    def hits(self) -> list[tuple[str, str, dict]]:
        """(class, reason, evidence) of each line a pattern matched, in time order."""
        return [f[1:] for f in sorted(self.found, key=lambda f: f[0])]

    def worst_lines(self) -> list[dict]:
        """The payload's and transform's first FATAL/CRITICAL lines, else its first ERROR lines (not the pilot's)."""
        return self.worst["bad"] or self.worst["error"]

    def pilot_lines(self, code: int) -> list[dict]:
        return [e for e in self.pilot if "error code: " not in e["text"] or f"error code: {code}" in e["text"]][:3]

    @classmethod
    def of(cls, streams: dict[int, list[dict]]) -> Evidence:
        ev = cls()
        for pid, recs in streams.items():
            for r in recs:
                ev.feed(r if "pid" in r else {**r, "pid": pid})
        return ev


def _where(r: dict, text: str) -> dict:
    return {"file": r.get("logfile"), "line": r.get("logline"), "text": text.rstrip("\n")[:500]}


def _wrapper(job: dict) -> list[dict]:
    """The wrapper's own error code (runGen/runAthena's payload_error_report.json), as evidence."""
    w = job.get("wrapper_error")
    if not isinstance(w, dict) or w.get("code") is None:
        return []
    return [{"file": "payload_error_report.json", "line": 0,
             "text": f"error_code {w['code']}" + (f": {w['diag']}" if w.get("diag") else "")}]


def decide(job: dict, streams: dict[int, list[dict]] | Evidence, raised: list[dict] | None = None) -> dict | None:
    """The verdict for a failed job (None when it succeeded): class, reason, evidence.

    `streams` is the job's records by pid, or the `Evidence` already gathered from them;
    `raised` holds the exception lines (`{file, line, text}`) of the tracebacks
    in the payload's logs that were not logged as handled, in order.
    """
    codes = job.get("pilot_error_codes") or []
    exit_code = job.get("exit_code")
    if not codes and exit_code == 0:
        return None
    ev = streams if isinstance(streams, Evidence) else Evidence.of(streams)
    hits = ev.hits()
    if raised:
        hits.append((TASK, "an exception in the job's own code", raised[-1]))
    perr = pilot_error(codes)
    if perr:
        name, cls = PILOT_CODES.get(perr["code"], (None, UNCLEAR))
        evidence = ev.pilot_lines(perr["code"])
        if cls == UNCLEAR:
            deciding = [h for h in hits if h[0] != UNCLEAR]
            if deciding:
                cls = deciding[0][0]
                evidence += [h[2] for h in deciding[:MAX_EVIDENCE]]
                return {"class": cls, "reason": f"pilot error {perr['code']} ({name}) and {deciding[0][1]}",
                        "evidence": evidence}
        if cls == TASK:
            evidence += _wrapper(job) + ev.worst_lines()
        return {"class": cls, "reason": f"pilot error {perr['code']} ({name or 'unknown code'})",
                "evidence": evidence + [h[2] for h in hits if h[0] == cls][:MAX_EVIDENCE]}
    message = job.get("exit_message") or ""
    inputs = (job.get("files") or {}).get("input") or []
    if exit_code == 66 and "did not pass corruption test" in message and any(f and f in message for f in inputs):
        return {"class": UNCLEAR, "reason": "an input file failed validation: a damaged replica at the site, "
                                            "or a bad file from the step before",
                "evidence": [{"file": "jobReport.json", "line": 0, "text": message}]}
    if isinstance(exit_code, int) and exit_code in TRF_TASK:
        return {"class": TASK, "reason": f"transform exit code {exit_code} ({TRF_TASK[exit_code]})",
                "evidence": (ev.worst_lines() + [h[2] for h in hits])[:MAX_EVIDENCE]}
    if isinstance(exit_code, int) and exit_code in TRF_SITE:
        return {"class": SITE, "reason": f"transform exit code {exit_code} ({TRF_SITE[exit_code]}): killed from outside",
                "evidence": [h[2] for h in hits][:MAX_EVIDENCE]}
    decided = [h for h in hits if h[0] != UNCLEAR]
    if decided:
        return {"class": decided[0][0], "reason": decided[0][1], "evidence": [h[2] for h in decided][:MAX_EVIDENCE]}
    return {"class": UNCLEAR, "reason": f"exit code {exit_code}, no pilot error code and no telling log line",
            "evidence": [h[2] for h in hits][:MAX_EVIDENCE]}
