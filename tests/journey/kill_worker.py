"""A journeys worker for the SIGKILL test: ticks one workspace with the clock the test gives, then exits.

Run: python -m tests.journey.kill_worker <database url> <workspace id> <ISO time>
"""

from __future__ import annotations

import sys
from datetime import datetime

from siyu.journey import tasks
from siyu.kit.db import make_engine, make_sessionmaker


def main() -> None:
    url, workspace_id, at = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
    tasks.utcnow = lambda: at  # type: ignore[attr-defined]  # the test's clock: days pass in seconds
    engine = make_engine(url)
    report = tasks.tick(make_sessionmaker(engine), None, workspace_id)
    engine.dispose()
    print(report)


if __name__ == "__main__":
    main()
