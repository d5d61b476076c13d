"""`python -m rig.cli`: the same as the `rig` console script."""

import sys

from rig.cli import main

sys.exit(main())
