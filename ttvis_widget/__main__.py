"""``python -m ttvis_widget ...``: the ``ttvis`` command line (cli.py), where the console script is not on PATH."""
import sys

from .cli import main

sys.exit(main())
