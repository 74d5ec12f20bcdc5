"""JEM demo: the environment check a job runs before its transform."""

import argparse
import os
import platform
import shutil
import sys


def python_ok(minimum):
    have = sys.version_info[:2]
    want = tuple(int(p) for p in minimum.split("."))
    return have >= want, f"{have[0]}.{have[1]}"


def scratch_ok(path, need_mb=100):
    free_mb = shutil.disk_usage(path).free // (1 << 20)
    return free_mb >= need_mb, free_mb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-python", default="3.9")
    args = parser.parse_args()
    checks = {
        "python": python_ok(args.min_python),
        "scratch": scratch_ok(os.getcwd()),
    }
    for name, (ok, value) in checks.items():
        print(f"check {name:<8} {'ok' if ok else 'FAIL':<4} {value}")
    print(f"node {platform.node()}, {platform.machine()}")
    return 0 if all(ok for ok, _ in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
