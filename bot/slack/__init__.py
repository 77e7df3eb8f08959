"""Everything that talks to Slack: the Web API client and its error translation, cards with sealed buttons, the Bolt
app, and its two ways in (HTTP ``/slack/events`` and Socket Mode)."""
