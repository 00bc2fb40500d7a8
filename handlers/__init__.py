"""The edge: Slack listeners, HTTP routes and the console. Each turns a request into one call into `bot/`."""
