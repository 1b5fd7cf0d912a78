"""`python -m inferload` runs the CLI."""

from inferload.cli import main

raise SystemExit(main())
