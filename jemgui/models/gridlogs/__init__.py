"""Read the logs every grid job leaves (the PanDA pilot's log tarball) as a JEM job.

`job.convert_folder` reads an unpacked work directory into records;
`tarball.open_gridlogs` opens a folder or a pack holding one and `tarball.join`
adds one to a JEM archive found beside it, for `inputs.open_input`;
`verdict` tells site from task and `summary` adds the fields `summarize` gives
such a job. Parts: `pilotlog` (pilotlog.txt), `textlog` (times and levels of
other logs), `tracebacks`, `jobreport` (the JSON files), `prmon`.
"""

#: bump when what the readers make of the same logs changes: an index built by an older
#: reader is not reused (the index cache's key includes it)
VERSION = 2
