"""Triage many jobs at once: which failures are the site's, which the task's, and where they cluster.

`facts.job_facts` reads one job (a JEM archive or a pilot log tarball) into the
small dict of facts `summary --json` gives plus its failure `signature`
(`signature.py`), cached per input; `run.triage_paths` reads many on a process
pool or a Dask cluster; `report.build` groups them by signature and adds the
per-site table, the hourly timeline and the outliers within each task.
"""
