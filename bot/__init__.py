"""govuk-deploy-bot's core: configuration, deploy rules, the charts writer, GitHub teams, the store and cards.

Nothing in this package imports Slack's SDKs or a web framework; `handlers/` does that.
"""
