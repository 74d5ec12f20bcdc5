"""Read the logs every grid job leaves (the PanDA pilot's log tarball) as a JEM job.

`job.convert_folder` reads an unpacked work directory; `open_gridlogs` opens a
folder or a pack holding one, for `inputs.open_input`.
"""
