"""`python -m ostium` = the `ostium` command."""

from ostium.control.cli import main

raise SystemExit(main())
