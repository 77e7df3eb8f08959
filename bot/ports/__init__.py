"""The ports: what the application services need of the systems around them, declared as types and protocols.

The services (``bot.dispatch``, ``bot.delivery``, ``bot.clicks``, ``bot.mentions``) import only these and the core;
the adapters (``bot.store``'s backends, ``bot.slack``, ``bot.cloudforet``) implement them; the runtime wires one to
the other. ``lint-imports`` (``[tool.importlinter]`` in pyproject.toml) keeps it that way.
"""
