"""``python -m distil_bilstm.cli``: the same as the ``distil-bilstm`` command."""

import sys

from . import main

sys.exit(main())
