"""``python -m tinymm``: the command line (see tinymm/cli.py)."""

from tinymm.cli import main

raise SystemExit(main())
