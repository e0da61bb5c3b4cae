"""`python -m rover_mt` is the same as the `rover-mt` command."""

import sys

from .cli import main

sys.exit(main())
