"""Operating safely: freezes, deploy windows, held deploys and rollback.

- `windows`: deploy windows as pure rules: open or shut at a moment, when the next opens.
- `freezes`: who froze what, where, when and why, kept in the store.
- `holds`: deploys held by a freeze or a window, newest per app and environment.
- `gate`: freezes and windows applied to every deploy: refuse, override, hold, offer, release.
- `rollback`: `/deploy rollback` and the `rollback` button.
"""
