"""`python -m jemgui` is the `jemgui` command."""

import sys

from jemgui.cli import main

sys.exit(main())
