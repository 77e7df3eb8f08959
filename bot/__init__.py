"""slack-chatops: a Cloudforet notification protocol plugin that turns notifications into Slack cards."""

__version__ = "0.1.0"
