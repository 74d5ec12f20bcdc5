"""`python -m jemgui.monitor [options] -- COMMAND [ARGS...]` is `jemgui run`."""

import sys

from jemgui.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
