"""Pilot log tarballs shaped like real ones, written from the public formats.

Sources (see ../shared/spec/grid-logs.md): pilotlog.txt lines follow pilot3
`pilot/util/loggingsupport.py` (debug format, UTC) with messages from
`pilot/control/payloads/generic.py` (`started -- pid=`, `finished pid=`),
`pilot/util/https.py` (`data = {...}`, `pilotErrorCodes`), `pilot/control/data.py`
(`will create archive`), `pilot/workflow/generic.py` (`caught signal`); payload.stdout
after runGen's `=== stderr ===` (tmaeno/panda-wnscript `src/rungen/runGen.py`);
transform lines `%(name)s.%(funcName)s %(asctime)s %(levelname)s` (athena `trfLogger.py`);
athena lines `HH:MM:SS Source   LEVEL message` (`log.<substep>`, release 21 format);
jobReport.json keys as in pilot3 `pilot/test/test_jobreport_parser.py`; prmon's TSV with
`Time nprocs nthreads wtime stime utime pss rss swap vmem rchar wchar read_bytes write_bytes`
(pilot3 `pilot/test/resource/memory_monitor_output-prmon.txt` column set, HSF/prmon units).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

PANDA_ID = "6512345678"
TASK = "41234567"
QUEUE = "DESY-HH_UCORE"
NODE = "wn0421.desy.de"
PID = 28455


def _pl(t: float, level: str, module: str, func: str, msg: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(round(t % 1 * 1000)):03d}"
    return f"{stamp} | {level:<8} | {module:<32} | {func:<25} | {msg}\n"


def pilotlog(t0: float, rc: int, state: str, codes: list[int] | None = None, signal: bool = False,
             trf: str = "Sim_tf.py", run: float = 2490.0) -> str:
    """The pilot's log from its start at `t0`: the payload starts 60 s in and runs `run` seconds."""
    end = t0 + 60 + run
    out = [
        _pl(t0 + 0.102, "INFO", "pilot.util.auxiliary", "pilot_version_banner", ""),
        "***  PanDA Pilot version 3.11.5.1  ***\n",
        _pl(t0 + 0.340, "INFO", "pilot.util.auxiliary", "pilot_version_banner",
            "pilot arguments: Namespace(queue='" + QUEUE + "', resource_type='MCORE', debug=True)"),
        _pl(t0 + 4.911, "DEBUG", "pilot.control.job", "get_job_definition",
            "job definition = {'PandaID': '" + PANDA_ID + "', 'taskID': '" + TASK + "', 'transformation': '"
            + trf + "', 'logFile': 'log." + TASK + "._000123.job.log.tgz.1', 'prodSourceLabel': 'managed', "
            "'prodUserID': '/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=Jane Doe'}"),
        _pl(t0 + 4.912, "INFO", "pilot.control.job", "verify_job", f"processing PanDA job {PANDA_ID} from task {TASK}"),
        _pl(t0 + 5.2, "INFO", "pilot.util.https", "send_update",
            "data = {'jobId': '" + PANDA_ID + "', 'state': 'starting', 'siteName': '" + QUEUE
            + "', 'node': '" + NODE + "', 'attemptNr': 1}"),
        _pl(t0 + 9.0, "INFO", "pilot.control.data", "_stage_in", "stage-in will use copytool rucio"),
        _pl(t0 + 39.5, "INFO", "pilot.copytool.rucio", "copy_in",
            " -- lfn=EVNT.12345._000001.pool.root.1, status_code=0, status=transferred"),
        _pl(t0 + 59.0, "INFO", "pilot.control.payloads.generic", "run_payload", "payload execution command:"),
        "\n",
        f"export ATLAS_LOCAL_ROOT_BASE=/cvmfs/atlas.cern.ch/repo/ATLASLocalRootBase;{trf} --maxEvents=10\n",
        _pl(t0 + 60.45, "INFO", "pilot.control.payloads.generic", "run_payload",
            f"started -- pid={PID} executable=/srv/container_script.sh"),
    ]
    if signal:
        out += [
            _pl(end - 2, "WARNING", "pilot.workflow.generic", "interrupt", "caught signal: SIGTERM in FRAME="),
            '  File "/srv/pilot3/pilot.py", line 233, in <module>\n',
            "    exitcode, _mainworkdir, _pilot_heartbeat = main()\n",
            '  File "/srv/pilot3/pilot/workflow/generic.py", line 120, in interrupt\n',
            "    logger.warning(f'caught signal: {sig} in FRAME=\\n%s', '\\n'.join(traceback.format_stack(frame)))\n",
            _pl(end - 1.99, "INFO", "pilot.util.processes", "kill_processes", f"breaking -- sending SIGTERM to pid={PID}"),
        ]
    out.append(_pl(end, "INFO", "pilot.control.payloads.generic", "run",
                   f"finished pid={PID} exit_code={rc} state={state}"))
    if codes:
        out.append(_pl(end + 2.3, "INFO", "pilot.util.https", "add_error_codes",
                       f"pilotErrorCodes = {codes} (will report primary/first error code)"))
    out += [
        _pl(end + 5, "INFO", "pilot.control.data", "_stage_out", "stage-out will use copytool rucio"),
        _pl(end + 10, "INFO", "pilot.control.data", "create_log",
            "will create archive /srv/tarball_PandaJob_x using timeout=1800 s for directory size=12 MB"),
        _pl(end + 10.011, "INFO", "pilot.util.container", "execute",
            f"executing command: pwd;tar cvfz log.{TASK}._000123.job.log.tgz.1 tarball_PandaJob_{PANDA_ID}_{QUEUE}"),
    ]
    return "".join(out)


#: 2026-08-17 08:30:00 UTC, and 2026-08-17 23:57:00 UTC for the job that runs across midnight
T0 = 1786955400
T_LATE = 1787011020


USER_TRACEBACK = """Traceback (most recent call last):
  File "/srv/workDir/analysis.py", line 41, in load_config
    return table[key]
           ~~~~~^^^^^
KeyError: 'jet_pt_min'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/workDir/analysis.py", line 88, in <module>
    main()
  File "/srv/workDir/analysis.py", line 80, in main
    cfg = load_config(table, "jet_pt_min")
  File "/srv/workDir/analysis.py", line 43, in load_config
    raise RuntimeError(f"config key {key} missing") from exc
RuntimeError: config key jet_pt_min missing
"""


def user_job_python_exception() -> dict[str, bytes]:
    """A user (runGen) job whose own code dies of a chained exception; pilot error 1305."""
    stdout = (
        "************** ALRB banner **************\n"
        "=== execute ===\n"
        "python analysis.py --in input.txt\n"
        "reading 1200 events\n"
        "=== stdout ===\n"
        "processed block 1\n"
        "=== stderr ===\n" + USER_TRACEBACK +
        "\n=== ls in run_dir ===\n"
        "analysis.py  input.txt\n"
    )
    return {
        "pilotlog.txt": pilotlog(T0, 1, "failed", codes=[1305], trf="runGen-00-00-02").encode(),
        "payload.stdout": stdout.encode(),
        "payload.stderr": USER_TRACEBACK.encode(),
        "payload_error_report.json": json.dumps({"error_code": 5318, "error_diag": "payload failed"}).encode(),
    }


def prmon_rows(t0: int, n: int, rss0: int, step: int) -> str:
    head = "Time\tnprocs\tnthreads\twtime\tstime\tutime\tpss\trss\tswap\tvmem\trchar\twchar\tread_bytes\twrite_bytes\n"
    rows = []
    for i in range(n):
        rss = rss0 + i * step
        rows.append(f"{t0 + 61 * i}\t4\t12\t{61 * i}\t{2 * i}\t{55 * i}\t{rss - 1000}\t{rss}\t0\t{rss * 2}"
                    f"\t{1000 * i}\t{500 * i}\t{800 * i}\t{400 * i}\n")
    return head + "".join(rows)


def killed_by_batch() -> dict[str, bytes]:
    """A production job killed with SIGTERM by the batch system while its memory rose; no jobReport."""
    t0 = 1786955460  # 2026-08-17 08:31:00 UTC
    athena = "".join(f"08:{32 + i // 60:02d}:{i % 60:02d} AthenaEventLoopMgr   INFO   ===>>>  start processing "
                     f"event #{1000 + i}, run #284500 {i} events processed so far  <<<===\n" for i in range(0, 600, 40))
    return {
        "pilotlog.txt": pilotlog(T0, -1, "failed", codes=[1201, 1315], signal=True).encode(),
        "payload.stdout": (b"PyJobTransforms.trfExe.preExecute 2026-08-17 08:31:20,100 INFO Batch/grid running - "
                           b"command outputs will not be echoed. Logs for EVNTtoHITS are in log.EVNTtoHITS\n"),
        "payload.stderr": b"",
        "log.EVNTtoHITS": athena.encode(),
        "memory_monitor_output.txt": prmon_rows(t0, 38, 1_000_000, 80_000).encode(),
        "memory_monitor_summary.json": json.dumps({"Max": {"pss": 3_959_000, "rss": 3_960_000, "swap": 0,
                                                           "vmem": 7_920_000}}, indent=2, sort_keys=True).encode(),
    }


def validation_failure() -> dict[str, bytes]:
    """A production job whose athena log has ERROR/FATAL lines, running across midnight; exit 68."""
    stdout = (
        "PyJobTransforms.transform.__init__ 2026-08-17 23:58:40,100 INFO Transform Sim_tf.py starting\n"
        "PyJobTransforms.trfExe.preExecute 2026-08-17 23:58:41,200 INFO Batch/grid running - command outputs "
        "will not be echoed. Logs for EVNTtoHITS are in log.EVNTtoHITS\n"
        "PyJobTransforms.transform.execute 2026-08-18 00:02:10,400 CRITICAL Transform executor raised "
        "TransformLogfileErrorException: Fatal error in athena logfile: \"Logfile error in log.EVNTtoHITS: "
        "\"AthenaEventLoopMgr FATAL Event loop failed\"\"\n"
        "Sim_tf.py stopped at Tue Aug 18 00:02:11 2026, trf exit code 68\n"
    )
    log = (
        "23:59:55 Py:Athena            INFO including file \"SimuJobTransforms/CommonSimulationJobOptions.py\"\n"
        "23:59:58 AthenaEventLoopMgr   INFO   ===>>>  start processing event #1, run #284500 0 events processed so far  <<<===\n"
        "00:00:03 G4SimTimer           ERROR  G4 navigation failure in volume EMEC\n"
        "00:01:59 AthenaEventLoopMgr  FATAL Event loop failed\n"
        "some untimed trailing line\n"
    )
    report = {
        "cmdLine": "Sim_tf.py --maxEvents=10", "created": "2026-08-18T00:02:11",
        "executor": [{"name": "EVNTtoHITS", "rc": 68, "statusOK": False, "validation": False,
                      "errMsg": "Fatal error in athena logfile: \"Logfile error in log.EVNTtoHITS\"",
                      "logfileReport": {"countSummary": {"ERROR": 1, "FATAL": 1}}}],
        "exitAcronym": "TRF_EXEC_LOGERROR", "exitCode": 68,
        "exitMsg": "Fatal error in athena logfile: \"Logfile error in log.EVNTtoHITS\"",
        "files": {"input": [{"type": "EVNT", "subFiles": [{"name": "EVNT.12345._000001.pool.root.1"}]}]},
        "name": "Sim_tf", "reportVersion": "2.1.1",
        "resource": {"executor": {"EVNTtoHITS": {"cpuTime": 200, "wallTime": 210,
                                                 "memory": {"Max": {"maxPSS": 2100000, "maxRSS": 2300000}}}},
                     "machine": {"node": NODE, "model_name": "AMD EPYC 7402"}},
    }
    return {
        "pilotlog.txt": pilotlog(T_LATE, 68, "failed", codes=[1305], run=250).encode(),
        "payload.stdout": stdout.encode(),
        "payload.stderr": b"",
        "log.EVNTtoHITS": log.encode(),
        "jobReport.json": json.dumps(report, indent=2, sort_keys=True).encode(),
    }


def success_with_logged_traceback() -> dict[str, bytes]:
    """A successful job that logged a harmless traceback as a warning and went on."""
    stdout = (
        "PyJobTransforms.transform.execute 2026-08-17 08:31:10,000 INFO Starting\n"
        "AthenaCommon.Include.include 2026-08-17 08:31:11,000 WARNING could not read optional conditions, "
        "using defaults\n"
        "Traceback (most recent call last):\n"
        '  File "/cvmfs/atlas.cern.ch/repo/sw/Conditions.py", line 12, in read\n'
        "    return open(path).read()\n"
        "FileNotFoundError: [Errno 2] No such file or directory: 'optional.db'\n"
        "PyJobTransforms.transform.execute 2026-08-17 08:40:00,000 INFO Transform finished\n"
        "Sim_tf.py stopped at Mon Aug 17 08:40:01 2026, trf exit code 0\n"
    )
    report = {"exitAcronym": "OK", "exitCode": 0, "exitMsg": "OK", "name": "Sim_tf", "reportVersion": "2.1.1",
              "executor": [{"name": "EVNTtoHITS", "rc": 0, "statusOK": True, "errMsg": ""}]}
    return {
        "pilotlog.txt": pilotlog(T0, 0, "finished").encode(),
        "payload.stdout": stdout.encode(),
        "payload.stderr": b"",
        "jobReport.json": json.dumps(report, indent=2, sort_keys=True).encode(),
    }


def pack(dest: Path, files: dict[str, bytes], name: str | None = None) -> Path:
    """The files as the pilot packs them: `tar cvfz <logFile> tarball_PandaJob_<id>_<queue>/...`."""
    name = name or f"log.{TASK}._000123.job.log.tgz.1"
    top = f"tarball_PandaJob_{PANDA_ID}_{QUEUE}"
    path = dest / name
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size, info.mtime = len(data), 1786955460
            tar.addfile(info, io.BytesIO(data))
    return path


def unpack(dest: Path, files: dict[str, bytes]) -> Path:
    top = dest / f"tarball_PandaJob_{PANDA_ID}_{QUEUE}"
    top.mkdir(parents=True)
    for member, data in files.items():
        (top / member).parent.mkdir(parents=True, exist_ok=True)
        (top / member).write_bytes(data)
    return top
