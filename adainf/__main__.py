import sys

from adainf.cli import main

sys.exit(main())
