"""`python -m core`: the management CLI (see core.cli)."""

from core.cli import main

raise SystemExit(main())
