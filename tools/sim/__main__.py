import sys

from tools.sim.cli import main

sys.exit(main())
