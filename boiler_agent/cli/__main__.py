"""`python -m boiler_agent.cli`: the same as the `boiler-agent` command."""

import sys

from boiler_agent.cli import main

sys.exit(main())
