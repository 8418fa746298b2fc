"""`hippo rotate-secrets`: re-encrypt every stored source secret with the newest key.

After putting a new key first in HIPPO_SECRET_KEYS, run this once; then the old
keys can be dropped from the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hippo.shared.errors import HippoError, SettingsError
from hippo.shared.queues import reseal_queue
from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from hippo.shared.sources import load_sources
from hippo.shared.store import Store, connect
from hippo.shared.store.keys import Keys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "rotate-secrets",
        help="re-encrypt stored source secrets with the newest HIPPO_SECRET_KEYS key",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)


async def rotate_secrets(settings: Settings) -> int:
    """Re-encrypt every queue's secrets; returns how many queues were rewritten."""
    client = connect(settings.redis_url)
    store = Store(client, Keys(settings.redis_prefix))
    sources, box = load_sources(), SecretBox(settings.cipher_keys)
    try:
        queues = await store.list_queues()
        for queue_id, _ in queues:
            await store.replace_queue(queue_id, lambda stored: reseal_queue(stored, sources, box))
        return len(queues)
    finally:
        await client.aclose()


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        if settings.dev_secret_key_warning:
            print(
                f"hippo rotate-secrets: warning: {settings.dev_secret_key_warning}", file=sys.stderr
            )
        count = asyncio.run(rotate_secrets(settings))
    except SettingsError as e:
        raise SystemExit(f"hippo rotate-secrets: {e}") from None
    except HippoError as e:
        raise SystemExit(f"hippo rotate-secrets: {e}") from None
    print(f"re-encrypted the secrets of {count} queues with the newest key")
    return 0
