"""Storm-proof delivery to Slack: a durable outbox drained in order per channel, paced within Slack's limits.

One job per module: ``outbox`` (lanes, pacing, retries, persistence, drain), ``pacer`` (the budget replicas share;
the token bucket itself is ``bot.pacing``), ``cards`` (each alert's living card, and acknowledgements from clicks),
``repeats`` (retries from Cloudforet dropped), ``tokens`` (bot tokens sealed for the store; which bot serves which
channel).
"""
