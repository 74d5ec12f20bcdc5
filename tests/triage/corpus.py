"""A corpus of pilot log tarballs shaped like a real task's, with known failures planted in it.

The members and line formats follow ../shared/spec/grid-logs.md as
tests/models/gridlogs_fixtures.py does (pilot3 `loggingsupport` debug format in
UTC, runGen's `=== stderr ===`, transform and athena lines, jobReport.json,
prmon's TSV), but every job has its own PanDA id, site, host, payload pid, work
directory and times, so nothing but the failure itself is alike.

Kinds planted (`KINDS`: expected verdict class):
- ok: a successful simulation job (a few at every site), one with 6x the memory (outlier);
- sigterm: the batch system at one site (CLUSTER_SITE) kills jobs with SIGTERM for a few hours;
- task_bug: the user's analysis dies of the same KeyError in its own `apply_cuts` at every site,
  below it a library frame, with different keys and event numbers in the message;
- logerror: a transform's athena log has the same FATAL line at every site, with differing
  volume addresses and event numbers;
- nospace: the worker node's disk fills, now and then, at another site.
`log_lines` and `binary_kb` make the tarballs bigger the way real ones grow: a longer athena
log and AthenaMP workers' logs, and a compressed performance-monitor file the reader skips.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

KINDS = {"ok": None, "sigterm": "site", "task_bug": "task", "logerror": "task", "nospace": "site"}
SITES = {
    "BNL_PROD": "acas{:04d}.usatlas.bnl.gov",
    "CERN-PROD_UCORE": "b7g{:02d}p{:04d}.cern.ch",
    "DESY-HH_UCORE": "wn{:04d}.desy.de",
    "TRIUMF_MCORE": "atlasnode{:03d}.triumf.ca",
}
CLUSTER_SITE = "BNL_PROD"
NOSPACE_SITE = "TRIUMF_MCORE"
#: the corpus's first hour: 2026-08-17 06:00 UTC; jobs end over HOURS hours
T_START = 1786946400
HOURS = 12
#: the hours (from T_START) when CLUSTER_SITE's batch system kills jobs
CLUSTER_HOURS = (4, 7)
SIM_TASK, USER_TASK, RECO_TASK = "41234567", "41299001", "41277300"


@dataclass
class Planted:
    path: Path
    panda_id: str
    kind: str
    site: str
    task: str
    ended: float


def _pl(t: float, level: str, module: str, func: str, msg: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t % 1 * 1000):03d}"
    return f"{stamp} | {level:<8} | {module:<32} | {func:<25} | {msg}\n"


def _pilotlog(j: dict, t0: float, run: float, rc: int, state: str, codes=(), sigterm=False, extra=()) -> str:
    pid, queue, node, task, trf = j["pid"], j["site"], j["host"], j["task"], j["trf"]
    end = t0 + 60 + run
    lfn = f"log.{task}._{j['n']:06d}.job.log.tgz.1"
    out = [
        _pl(t0 + 0.1, "INFO", "pilot.util.auxiliary", "pilot_version_banner", ""),
        "***  PanDA Pilot version 3.11.5.1  ***\n",
        _pl(t0 + 0.3, "INFO", "pilot.util.auxiliary", "pilot_version_banner",
            f"pilot arguments: Namespace(queue='{queue}', resource_type='MCORE', debug=True)"),
        _pl(t0 + 4.9, "DEBUG", "pilot.control.job", "get_job_definition",
            f"job definition = {{'PandaID': '{j['id']}', 'taskID': '{task}', 'transformation': '{trf}', "
            f"'logFile': '{lfn}', 'prodSourceLabel': '{j['label']}'}}"),
        _pl(t0 + 4.91, "INFO", "pilot.control.job", "verify_job", f"processing PanDA job {j['id']} from task {task}"),
        _pl(t0 + 5.2, "INFO", "pilot.util.https", "send_update",
            f"data = {{'jobId': '{j['id']}', 'state': 'starting', 'siteName': '{queue}', 'node': '{node}', "
            "'attemptNr': 1}"),
        _pl(t0 + 9.0, "INFO", "pilot.control.data", "_stage_in", "stage-in will use copytool rucio"),
        _pl(t0 + 39.5, "INFO", "pilot.copytool.rucio", "copy_in",
            f" -- lfn=EVNT.{task}._{j['n']:06d}.pool.root.1, status_code=0, status=transferred"),
        _pl(t0 + 59.0, "INFO", "pilot.control.payloads.generic", "run_payload", "payload execution command:"),
        f"export ATLAS_LOCAL_ROOT_BASE=/cvmfs/atlas.cern.ch/repo/ATLASLocalRootBase;{trf} --maxEvents=100\n",
        _pl(t0 + 60.4, "INFO", "pilot.control.payloads.generic", "run_payload",
            f"started -- pid={pid} executable={j['workdir']}/container_script.sh"),
    ]
    for k in range(int(run // 600)):  # the pilot's periodic checks while the payload runs
        out.append(_pl(t0 + 60 + 600 * (k + 1), "INFO", "pilot.control.job", "job_monitor",
                       f"job monitor: payload pid={pid} running, {600 * (k + 1)} s"))
    out += list(extra)
    if sigterm:
        out += [_pl(end - 2, "WARNING", "pilot.workflow.generic", "interrupt", "caught signal: SIGTERM in FRAME="),
                '  File "/srv/pilot3/pilot.py", line 233, in <module>\n',
                "    exitcode, _mainworkdir, _pilot_heartbeat = main()\n",
                _pl(end - 1.9, "INFO", "pilot.util.processes", "kill_processes",
                    f"breaking -- sending SIGTERM to pid={pid}")]
    out.append(_pl(end, "INFO", "pilot.control.payloads.generic", "run", f"finished pid={pid} exit_code={rc} state={state}"))
    if codes:
        out.append(_pl(end + 2.3, "INFO", "pilot.util.https", "add_error_codes",
                       f"pilotErrorCodes = {list(codes)} (will report primary/first error code)"))
    out += [_pl(end + 10, "INFO", "pilot.control.data", "create_log",
                f"will create archive {j['workdir']}/tarball_PandaJob_{j['id']}_{queue} using timeout=1800 s "
                "for directory size=12 MB"),
            _pl(end + 10.01, "INFO", "pilot.util.container", "execute",
                f"executing command: pwd;tar cvfz {lfn} tarball_PandaJob_{j['id']}_{queue}")]
    return "".join(out)


def _prmon(t0: float, n: int, rss0: int, step: int, cpu: float = 0.9) -> str:
    head = "Time\tnprocs\tnthreads\twtime\tstime\tutime\tpss\trss\tswap\tvmem\trchar\twchar\tread_bytes\twrite_bytes\n"
    rows = []
    for i in range(n):
        rss = rss0 + i * step
        w = 61 * i
        rows.append(f"{int(t0) + w}\t4\t12\t{w}\t{int(w * cpu * 0.05)}\t{int(w * cpu * 0.95)}\t{rss - 1000}\t{rss}"
                    f"\t0\t{rss * 2}\t{1000 * i}\t{500 * i}\t{800 * i}\t{400 * i}\n")
    return head + "".join(rows)


def _athena(rnd: random.Random, t0: float, lines: int) -> str:
    out = [f"{time.strftime('%H:%M:%S', time.gmtime(t0))} Py:Athena            INFO including file "
           "\"SimuJobTransforms/CommonSimulationJobOptions.py\"\n"]
    for i in range(lines):
        t = time.strftime("%H:%M:%S", time.gmtime(t0 + i * 0.5))
        out.append(f"{t} AthenaEventLoopMgr   INFO   ===>>>  start processing event #{rnd.randrange(10**7)}, "
                   f"run #284500 {i} events processed so far  <<<===\n")
        if i % 7 == 0:
            out.append(f"{t} G4SimTimer           INFO   Event nr. {i} took {rnd.uniform(1, 90):.4f} s. "
                       f"New average {rnd.uniform(20, 40):.4f} +- {rnd.uniform(0.1, 2):.4f}\n")
    return "".join(out)


def _report(exit_code: int, acronym: str, msg: str, cpu: float, wall: float, pss: int) -> str:
    rep = {"exitAcronym": acronym, "exitCode": exit_code, "exitMsg": msg, "name": "Sim_tf", "reportVersion": "2.1.1",
           "executor": [{"name": "EVNTtoHITS", "rc": exit_code, "statusOK": exit_code == 0, "errMsg": msg}],
           "resource": {"executor": {"EVNTtoHITS": {"cpuTime": cpu, "wallTime": wall,
                                                    "memory": {"Max": {"maxPSS": pss, "maxRSS": pss + 1000}}}}}}
    return json.dumps(rep, indent=2, sort_keys=True)


def _job_files(kind: str, j: dict, rnd: random.Random, t0: float, run: float, pad_lines: int,
               outlier: bool) -> dict[str, bytes]:
    files: dict[str, str | bytes] = {}
    start = t0 + 60
    samples = int(run // 61)
    rss0 = 1_500_000 + rnd.randrange(200_000)
    step = 20_000 * (6 if outlier else 1)
    if kind == "ok":
        files["pilotlog.txt"] = _pilotlog(j, t0, run, 0, "finished")
        files["payload.stdout"] = (f"PyJobTransforms.transform.execute {_iso(start + 5)} INFO Starting\n"
                                   f"Sim_tf.py stopped at {time.ctime(start + run)}, trf exit code 0\n")
        files["jobReport.json"] = _report(0, "OK", "OK", run * 0.9, run, rss0 + step * samples)
    elif kind == "sigterm":
        files["pilotlog.txt"] = _pilotlog(j, t0, run, -1, "failed", codes=(1201, 1315), sigterm=True)
        files["payload.stdout"] = (f"PyJobTransforms.trfExe.preExecute {_iso(start + 20)} INFO Batch/grid running - "
                                   "command outputs will not be echoed. Logs for EVNTtoHITS are in log.EVNTtoHITS\n")
    elif kind == "nospace":
        scratch = f"/scratch/condor/dir_{rnd.randrange(10**6)}"
        files["pilotlog.txt"] = _pilotlog(j, t0, run, 1, "failed", codes=(1098,))
        files["payload.stderr"] = (f"ERROR: write failed: [Errno 28] No space left on device: "
                                   f"'{scratch}/HITS.{j['n']:06d}.pool.root.1'\n")
        files["payload.stdout"] = f"PyJobTransforms.transform.execute {_iso(start + 5)} INFO Starting\n"
    elif kind == "logerror":
        vol = f"EMEC_0x{rnd.randrange(16**10):010x}"
        files["pilotlog.txt"] = _pilotlog(j, t0, run, 68, "failed", codes=(1305,))
        files["payload.stdout"] = (
            f"PyJobTransforms.transform.execute {_iso(start + 5)} INFO Transform Sim_tf.py starting\n"
            f"PyJobTransforms.transform.execute {_iso(start + run - 2)} CRITICAL Transform executor raised "
            f"TransformLogfileErrorException: Fatal error in athena logfile\n"
            f"Sim_tf.py stopped at {time.ctime(start + run)}, trf exit code 68\n")
        fatal = (f"{time.strftime('%H:%M:%S', time.gmtime(start + run - 30))} G4Navigator          FATAL "
                 f"Stuck track in volume {vol} at event {rnd.randrange(10**6)} after {rnd.randrange(10**4)} steps\n")
        files["log.EVNTtoHITS"] = _athena(rnd, start + 30, 40) + fatal
        files["jobReport.json"] = _report(68, "TRF_EXEC_LOGERROR", "Fatal error in athena logfile: "
                                          "\"Logfile error in log.EVNTtoHITS\"", run * 0.9, run, rss0)
    elif kind == "task_bug":
        key = rnd.choice(["jet_pt_min", "met_cut", "lep_eta_max"])
        wd = j["workdir"] + "/workDir"
        tb = ("Traceback (most recent call last):\n"
              f'  File "{wd}/run_analysis.py", line 212, in <module>\n    main(sys.argv[1:])\n'
              f'  File "{wd}/run_analysis.py", line 198, in main\n    n = process(events, cfg)\n'
              f'  File "{wd}/selection.py", line 57, in apply_cuts\n    return cuts.select(events[cfg[{key!r}]])\n'
              '  File "/cvmfs/atlas.cern.ch/repo/sw/software/24.2/lib/python3.11/site-packages/awkward/highlevel.py", '
              f"line 1065, in __getitem__\n    return self._getitem(where)\n"
              f"KeyError: '{key}' (event {rnd.randrange(10**6)})\n")
        files["pilotlog.txt"] = _pilotlog(j, t0, run, 1, "failed", codes=(1305,))
        files["payload.stdout"] = ("=== execute ===\npython run_analysis.py --in input.txt\n=== stdout ===\n"
                                   f"processed block 1 of {rnd.randrange(2, 40)}\n=== stderr ===\n" + tb)
        files["payload.stderr"] = tb
        files["payload_error_report.json"] = json.dumps({"error_code": 5318, "error_diag": "payload failed"})
    if kind in ("ok", "sigterm") and pad_lines:
        files["log.EVNTtoHITS"] = _athena(rnd, start + 30, pad_lines)
        for w in range(2):
            files[f"athenaMP-workers-EVNTtoHITS-sim/worker_{w}/AthenaMP.log"] = _athena(rnd, start + 40, pad_lines // 4)
    files["memory_monitor_output.txt"] = _prmon(start, max(samples, 2), rss0, step)
    files["memory_monitor_summary.json"] = json.dumps({"Max": {"pss": rss0 + step * samples - 1000,
                                                               "rss": rss0 + step * samples}}, indent=2)
    files["workernode_map.json"] = json.dumps({"site": j["site"], "panda_queue": j["site"], "host_name": j["host"],
                                               "cpu_model": "AMD EPYC 7402", "n_logical_cpus": 96})
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + ",100"


def _sites(more: int) -> dict[str, str]:
    """SITES and `more` small sites (more than a plot shows at once)."""
    return {**SITES, **{f"SMALL{k:02d}_SITE": f"wn{{:04d}}.small{k:02d}.example.org" for k in range(1, more + 1)}}


def _plan(n: int, rnd: random.Random, more_sites: int = 0) -> list[tuple[str, str, float]]:
    """(kind, site, end time from T_START in s) of each of `n` jobs: the mix a shifter meets."""
    plan = []
    sites = list(_sites(more_sites))
    for i in range(n):
        site = sites[i % len(sites)]
        at = rnd.uniform(0, HOURS * 3600)
        r = rnd.random()
        if i % 8 == 7:  # the killed jobs' pilots soon end the next job: more jobs end there then
            plan.append(("sigterm", CLUSTER_SITE, rnd.uniform(CLUSTER_HOURS[0] * 3600, CLUSTER_HOURS[1] * 3600)))
            continue
        in_cluster = CLUSTER_HOURS[0] * 3600 <= at < CLUSTER_HOURS[1] * 3600
        if site == CLUSTER_SITE and in_cluster and r < 0.8:
            kind = "sigterm"
        elif r < 0.15:
            kind = "task_bug"
        elif r < 0.25:
            kind = "logerror"
        elif site == NOSPACE_SITE and r < 0.30:
            kind = "nospace"
        else:
            kind = "ok"
        plan.append((kind, site, at))
    return plan


def make_corpus(dest: Path, n: int = 60, seed: int = 17, log_lines: int = 0, binary_kb: int = 0,
                part: tuple[int, int] = (0, 1), more_sites: int = 0) -> list[Planted]:
    """Write `n` tarballs under `dest/<site>/` and return what was planted in each.

    `log_lines` pads the successful and killed jobs' athena logs (and two AthenaMP workers' logs
    a quarter as long); `binary_kb` adds a compressed performance-monitor file of that size, which
    the reader skips but must read through. `part=(k, m)` writes only every m-th job from the
    k-th (to write a corpus from m processes); the list returned is always the whole corpus.
    `more_sites` spreads the jobs over that many small sites more.
    """
    rnd = random.Random(seed)
    plan = _plan(n, rnd, more_sites)
    hosts = _sites(more_sites)
    ok_sim = [i for i, (kind, _, _) in enumerate(plan) if kind == "ok"]
    outlier_at = ok_sim[len(ok_sim) // 2] if ok_sim else -1
    out = []
    for i, (kind, site, at) in enumerate(plan):
        jr = random.Random(seed * 100_003 + i)
        task = {"task_bug": USER_TASK, "logerror": RECO_TASK}.get(kind, SIM_TASK)
        host = hosts[site].format(*([jr.randrange(1, 40)] * hosts[site].count("{")) if site.startswith("CERN")
                                  else [jr.randrange(1, 900)])
        j = {"id": str(6_600_000_000 + i * 7919), "n": i + 1, "site": site, "host": host, "task": task,
             "pid": jr.randrange(1000, 400000), "workdir": f"/srv/job_{jr.randrange(10**8):08d}",
             "trf": "runGen-00-00-02" if task == USER_TASK else "Sim_tf.py",
             "label": "user" if task == USER_TASK else "managed"}
        run = jr.uniform(300, 900) if kind == "sigterm" else jr.uniform(1800, 3000)
        t0 = T_START + at - run - 60
        path = dest / site / f"log.{task}._{i + 1:06d}.job.log.tgz.1"
        out.append(Planted(path, j["id"], "outlier" if i == outlier_at else kind, site, task, t0 + 60 + run))
        if i % part[1] != part[0]:
            continue
        files = _job_files(kind, j, jr, t0, run, log_lines, i == outlier_at)
        if binary_kb:
            files["ntuple_EVNTtoHITS.pmon.gz"] = jr.randbytes(binary_kb * 1024)
        _pack(path, j, files)
    return out


def _pack(path: Path, j: dict, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    top = f"tarball_PandaJob_{j['id']}_{j['site']}"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size, info.mtime = len(data), T_START
            tar.addfile(info, io.BytesIO(data))
    return path
