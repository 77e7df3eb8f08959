"""A faithful local fake of Slack, on loopback, for the tests and the benchmarks.

One module per concern:

* ``blockkit``: what Slack accepts as message content (Block Kit validation, Slack's limits);
* ``state``: the world (tokens, channels, users, user groups, messages);
* ``web_api``: the HTTP Web API (auth, the methods the bot calls, rate limits, outages, the call record);
* ``interactivity``: signed clicks, ``block_actions`` payloads, ``response_url``;
* ``socket_mode``: ``apps.connections.open`` and the WebSocket;
* ``fake``: :class:`FakeSlack`, all of them on one port;
* ``__main__``: ``python -m tests.fakes.slack`` for the benchmarks.

Only what the bot uses is modelled; the rest is refused loudly (``unknown_method``, an unsupported block type).
"""

from tests.fakes.slack.blockkit import validate_blocks
from tests.fakes.slack.fake import FakeSlack
from tests.fakes.slack.interactivity import ButtonNotFound, ClickResult, form_body, slack_signature
from tests.fakes.slack.state import Message
from tests.fakes.slack.web_api import Call

__all__ = [
    "ButtonNotFound",
    "Call",
    "ClickResult",
    "FakeSlack",
    "Message",
    "form_body",
    "slack_signature",
    "validate_blocks",
]
