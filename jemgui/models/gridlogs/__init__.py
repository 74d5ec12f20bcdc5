"""Read the logs every grid job leaves (the PanDA pilot's log tarball) as a JEM job.

`job.convert_to_files` reads an unpacked work directory into records, sorted on
disk and written as one JSONL file per pid (`convert_folder` hands them back in
memory, for small jobs and tests);
`tarball.open_gridlogs` opens a folder or a pack holding one and `tarball.join`
adds one to a JEM archive found beside it, for `inputs.open_input`;
`verdict` tells site from task and `summary` adds the fields `summarize` gives
such a job. Parts: `pilotlog` (pilotlog.txt), `textlog` (times and levels of
other logs), `tracebacks`, `jobreport` (the JSON files), `prmon`; for the
window's Logs panel, `logs` (the job's files, errors, search) and `lineindex`
(a log indexed by line a chunk at a time, never loaded whole).
"""

#: bump when what the readers make of the same logs changes: an index built by an older
#: reader is not reused (the index cache's key includes it)
VERSION = 2
