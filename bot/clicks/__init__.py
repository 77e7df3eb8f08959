"""Clicks, the application service between Slack and Cloudforet: who may click, and one click from Slack's payload
to Cloudforet's callback and back to the card."""
