"""``python -m tinymm``: the command line (see tinymm/cli.py)."""

from tinymm.app.cli import main

raise SystemExit(main())
