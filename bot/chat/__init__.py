"""Everything the bot writes to the chat service.

- `service`: what the core needs from a chat service (Slack, or the console) and how it fails.
- `mrkdwn`: putting outside text into Slack's markup safely.
- `queue`: which card to bring up to date next (urgent first, then oldest).
- `pacing`: one post per second per channel, and waiting out a 429's Retry-After.
- `post_once`: a `chat.postMessage` that never shows twice.
- `outbox`: the worker that makes every card on Slack match its release in the store.
- `replies`: private replies to the person who asked (Slack's response_url).
"""
