"""`python -m relay_local.bench [--quick] [--only PART]` (`make bench`): see relay_local.bench.figures."""

import sys

from relay_local.bench.figures import main

sys.exit(main())
