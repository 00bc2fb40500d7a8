"""What runs where, and how delivery is going: the answers to `/deploy status`, `history` and `stats`.

- `lookups`: the three commands: checked at once, answered through response_url.
- `status`: where every environment stands (charts, Argo CD, the book, GitHub compare), in parallel.
- `history`: an app's last deploys and how each ended, from the audit trail.
- `stats`: delivery figures (deploys, lead time, change failure rate, time to restore), pure.
"""
