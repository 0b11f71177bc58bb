"""``python -m nin_core.searchbench``, the documented command; the benchmark itself is ``nin_core.lab.searchbench``."""

import sys

from nin_core.lab.searchbench import main

if __name__ == "__main__":
    sys.exit(main())
