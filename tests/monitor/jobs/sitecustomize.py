import os
import sys

print("the job's own sitecustomize ran", file=sys.stderr)
os.environ["JOB_SITE_RAN"] = "yes"
