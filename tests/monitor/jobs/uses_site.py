import os
import sys

print("JOB_SITE_RAN", os.environ.get("JOB_SITE_RAN"), "sitecustomize" in sys.modules)
print([p for p in sys.path if "jem" in p.lower()])
