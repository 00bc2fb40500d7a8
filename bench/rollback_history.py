"""What `/deploy rollback` costs when only git history knows the earlier tag (`ChartsRepo.file_history`).

`python -m bench.rollback_history`: on the real-scale charts repository (bench/repos.py), a
bot-style shallow working copy (`--depth 1`), then `file_history` for one app in production:
the time it takes and how much the working copy's `.git` grows.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from bench import repos
from bot.gitops.charts import ChartsRepo


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    big = repos.big_repo()
    with tempfile.TemporaryDirectory(prefix="rollback-history-") as scratch:
        charts = ChartsRepo(
            url=big.path.as_uri(),
            branch=repos.BRANCH,
            workdir=Path(scratch) / "wc",
            image_tags_path=repos.IMAGE_TAGS,
            environments=list(repos.BOT_ENVS),
            author_name="bench",
            author_email="bench@example.invalid",
            shared_lock=contextlib.nullcontext,
        )
        charts.prepare()
        app = charts.apps("production")[0]
        before = folder_bytes(Path(scratch) / "wc" / ".git")
        for run in range(2):
            started = time.monotonic()
            tags = charts.file_history("production", app)
            took = time.monotonic() - started
            grown = folder_bytes(Path(scratch) / "wc" / ".git") - before
            print(
                f"run {run + 1}: {took:.2f} s, {len(tags)} earlier tags of production/{app}, .git grew {grown / 1e6:.1f} MB"
            )
        charts.stop()


if __name__ == "__main__":
    main()
