"""Slack interactivity: button clicks over HTTP or Socket Mode, proxied to Cloudforet callbacks."""
