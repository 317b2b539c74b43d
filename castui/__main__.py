"""Allow `python -m castui`."""

from castui.cli import main

raise SystemExit(main())
