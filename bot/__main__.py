"""``python -m bot``: the same command line as the ``slack-chatops`` console script."""

from bot.cli import main

raise SystemExit(main())
