"""`python -m fieldsvc` runs the command line."""

from fieldsvc.cli import main

raise SystemExit(main())
