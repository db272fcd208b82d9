"""``python -m bench``: run the benchmarks (see ``bench/run.py`` for the sections and knobs)."""

import sys

from bench.run import main

sys.exit(main())
