"""`python -m uav_flood.cli`: the same as `uav-flood`."""

import sys

from uav_flood.cli import main

sys.exit(main())
