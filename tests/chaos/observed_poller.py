"""`hippo worker` with the polling hooks of tests/sources/polling_worker.py (a poll can
be held just before it is stored: STORE_DELAY_S, STORE_DELAY_QUEUE; the key
`observe:in-store:<pid>` says when), so a fault run can SIGKILL it in mid-poll.

Run as `python -m tests.chaos.observed_poller worker ...` with HIPPO_* variables and
OBSERVE_REDIS_URL."""

from __future__ import annotations

from hippo.cli import main
from tests.sources.polling_worker import install_hooks

if __name__ == "__main__":
    install_hooks()
    main()
