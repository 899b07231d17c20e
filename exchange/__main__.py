"""python -m exchange → the exchange command line."""

from exchange.cli import main

raise SystemExit(main())
