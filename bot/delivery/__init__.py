"""Storm-proof delivery to Slack: a durable outbox drained in order per channel, paced within Slack's limits."""
