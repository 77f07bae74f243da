"""``python -m loadtests.bench``: see ``loadtests.bench.run``."""

import sys

from loadtests.bench.run import main

if __name__ == "__main__":  # the signing workers are spawned and import this module again
    sys.exit(main())
