"""`python -m adainf ...`, also the torchrun entry: `torchrun --nproc_per_node=G -m adainf train ...`."""

import os
import sys

from adainf.cli import main

if int(os.environ.get("RANK", "0")) != 0:
    # Under torchrun every rank runs the command; rank 0 alone prints its result (one JSON object for --json).
    # stderr stays, so an error on any rank is still reported.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process

if "TORCHELASTIC_RUN_ID" in os.environ:
    from torch.distributed.elastic.multiprocessing.errors import record

    # torchrun then names the failing rank and its exception message in its summary, not just an exit code.
    main = record(main)

sys.exit(main())
