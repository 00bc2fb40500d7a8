"""A release `(app, tag)` and where it stands in every environment.

- `model`: the types (release, environment entry, state, requester) and their stored form.
- `transitions`: the one pure function that applies an event to a release.
- `book`: keeping releases in the store, one change at a time, shared by every replica.
- `outcomes`: what Argo CD sync outcomes, test outcomes and the clock mean for a release.
"""
