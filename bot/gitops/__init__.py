"""The govuk-helm-charts repository: where a deploy is a commit.

- `imagetags`: reading and editing one image-tag file, keeping everything else as it was.
- `charts`: the shallow working copy, what it says (no I/O for readers), and the writer that
  turns each deploy into exactly one pushed commit.
"""
