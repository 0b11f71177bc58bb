"""``python -m nin_core.watchbench``, the documented command; the benchmark itself is ``nin_core.lab.watchbench``."""

import sys

from nin_core.lab.watchbench import main

if __name__ == "__main__":
    sys.exit(main())
