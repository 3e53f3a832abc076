"""`python -m adainf ...`, also the torchrun entry: `torchrun --nproc_per_node=G -m adainf train ...`."""

import os
import sys

from adainf.cli import main

if "TORCHELASTIC_RUN_ID" in os.environ:
    from torch.distributed.elastic.multiprocessing.errors import record

    # torchrun then names the failing rank and its exception message in its summary, not just an exit code.
    main = record(main)

sys.exit(main())
