"""Break each promise on purpose, one small edit at a time, and check a test fails.

    python scripts/mutants.py              # every mutant, each against its guarding tests
    python scripts/mutants.py --full       # each against the whole suite (slow)
    python scripts/mutants.py claim-fence  # only the named mutants
    python scripts/mutants.py --list

Each mutant is applied to a copy of the checkout (build/mutants/tree) whose `hippo/`
links in the other packages as installed (scripts/layout.py), first on PYTHONPATH, so
the working tree is never touched and worker processes started by the tests import the
mutated copy too. A mutant is *killed* when pytest fails; one that survives is a promise
no test guards. The list and what each edit breaks are in docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from layout import top_level_packages

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutants"


@dataclass(frozen=True)
class Mutant:
    name: str
    promise: str
    path: str
    old: str  # must occur exactly once after `after` (or in the whole file)
    new: str
    tests: tuple[str, ...]
    after: str = ""  # where to start looking for `old`: a text just before it


FENCE = "local stale = fence(epoch); if stale then return stale end"
LEADER_SCRIPTS = "shared/store/leader_scripts.py"
FENCED = "tests/worker/test_fenced_scripts.py"

MUTANTS = (
    Mutant(
        "claim-fence",
        "one fenced leader",
        LEADER_SCRIPTS,
        FENCE,
        "",
        (FENCED,),
        after="-- claim_tasks:",
    ),
    Mutant(
        "record-fence",
        "one fenced leader",
        LEADER_SCRIPTS,
        FENCE,
        "",
        (FENCED,),
        after="-- record_updates:",
    ),
    Mutant(
        "unclaim-fence",
        "one fenced leader",
        LEADER_SCRIPTS,
        FENCE,
        "",
        (FENCED,),
        after="-- unclaim_tasks:",
    ),
    Mutant(
        "framework-id-fence",
        "one fenced leader",
        LEADER_SCRIPTS,
        FENCE,
        "",
        (FENCED,),
        after="-- save_framework_id:",
    ),
    Mutant(
        "epoch-without-lock",
        "one fenced leader",
        LEADER_SCRIPTS,
        "if redis.call('GET', lock_key) ~= lock_id then return 0 end",
        "",
        (FENCED,),
    ),
    Mutant(
        "watchdog-never-steps-down",
        "one fenced leader",
        "worker/leader.py",
        "    while True:\n        # Neither the wait",
        "    await asyncio.Event().wait()\n    while True:\n        # Neither the wait",
        ("tests/worker/test_watchdog.py",),
    ),
    Mutant(
        "watchdog-steps-down-on-a-slow-check",
        "a leader is not deposed by a loaded machine",
        "worker/leader.py",
        "            continue\n        if not ours_for_s:",
        "            lost.set()\n            return\n        if not ours_for_s:",
        ("tests/worker/test_watchdog.py",),
    ),
    Mutant(
        "watchdog-ignores-epoch",
        "one fenced leader",
        "shared/store/leadership.py",
        "if not (_text(holder) == lock_id and _text(current) == str(epoch)):",
        "if not _text(holder) == lock_id:",
        ("tests/worker/test_watchdog.py",),
    ),
    Mutant(
        "ack-before-store",
        "updates acknowledged after they are stored",
        "worker/status_updates.py",
        "        outcomes = await self.store.record_updates(",
        "        await client.acknowledge_updates(statuses)\n"
        "        outcomes = await self.store.record_updates(",
        (
            "tests/worker/test_leader_parts.py::test_updates_are_acknowledged_only_once_stored",
            "tests/worker/test_guarantees.py::test_updates_are_not_acknowledged_while_they_cannot_be_stored",
        ),
    ),
    Mutant(
        "claim-ignores-id-cap",
        "max_concurrent never exceeded",
        LEADER_SCRIPTS,
        "local ok = id_cap == '' or redis.call('ZCARD', by_id) < tonumber(id_cap)",
        "local ok = true",
        (FENCED,),
    ),
    Mutant(
        "claim-ignores-queue-cap",
        "max_concurrent never exceeded",
        LEADER_SCRIPTS,
        "ok = redis.call('ZCARD', by_queue) < tonumber(queue_cap)",
        "ok = true",
        (FENCED,),
    ),
    Mutant(
        "claim-ignores-state",
        "a run is launched once, and a killed one never",
        LEADER_SCRIPTS,
        "st.mesos_state == 'WAITING_ON_OFFERS' and st.kill_requested ~= true then",
        "st.kill_requested ~= true then",
        (FENCED, "tests/worker/test_leader_store.py"),
    ),
    Mutant(
        "older-state-overwrites",
        "updates never move a task backwards",
        LEADER_SCRIPTS,
        "(not TERMINAL[state] and (RANK[state] or 0) < (RANK[st.mesos_state] or 0))",
        "false",
        (FENCED,),
    ),
    Mutant(
        "update-after-end-applied",
        "updates never move a task backwards",
        LEADER_SCRIPTS,
        "elseif not ACTIVE[st.mesos_state] then",
        "elseif false then",
        (FENCED,),
    ),
    Mutant(
        "record-loses-status-reason",
        "task records keep the contract's fields",
        "shared/records.py",
        '        "status_reason": None,\n',
        "",
        ("tests/test_record_fields.py",),
    ),
    Mutant(
        "retried-run-without-template",
        "task records keep the contract's fields",
        LEADER_SCRIPTS,
        "local run = new_run()",
        "local run = {}",
        (FENCED,),
    ),
    Mutant(
        "poll-error-unmasked",
        "secrets never shown",
        "worker/polling.py",
        "error = mask_secrets(str(text), settings)[:MAX_ERROR_CHARS]",
        "error = str(text)[:MAX_ERROR_CHARS]",
        ("tests/sources/test_secrets_in_errors.py",),
    ),
    Mutant(
        "log-lines-unredacted",
        "secrets never shown",
        "shared/logs.py",
        "    return mask_url_passwords_in(text)",
        "    return text",
        ("tests/test_logs.py",),
    ),
    Mutant(
        "api-shows-secret",
        "secrets never shown",
        "shared/queues.py",
        "settings[name] = MASK",
        "settings[name] = box.decrypt(value)",
        ("tests/test_api_queues.py", "tests/test_secrets.py"),
    ),
    Mutant(
        "acknowledge-before-store",
        "no source item lost",
        "worker/polling.py",
        "        outcome = await self.store.store_poll(\n",
        "        if items:\n"
        "            await source.acknowledge(request, fetched)\n"
        "        outcome = await self.store.store_poll(\n",
        ("tests/sources/test_workers.py", "tests/sources/test_redislist.py"),
    ),
    Mutant(
        "acknowledge-unreplicated",
        "no source item lost",
        "worker/polling.py",
        "            acknowledging=bool(items),\n",
        "            acknowledging=False,\n",
        ("tests/sources/test_redis_failover.py",),
    ),
    Mutant(
        "item-key-ignored",
        "no item run twice because of Hippo",
        "shared/store/lease_scripts.py",
        "  if redis.call('EXISTS', K.queue_item(qid, ARGV[i])) == 1 then return -1 end\n",
        "",
        ("tests/sources/test_poll_store.py", "tests/sources/test_workers.py"),
    ),
    Mutant(
        "lost-spends-task-retries",
        "a lost task is the cluster's fault: it spends system retries",
        "worker/retries.py",
        '        "TASK_LOST",\n',
        "",
        ("tests/worker/test_retries.py", "tests/worker/test_worker.py"),
    ),
    Mutant(
        "retention-trims-the-finishing-run",
        "a finishing run is never trimmed away",
        "shared/store/task_lua.py",
        "        if old ~= mid then",
        "        if true then",
        ("tests/test_retention.py",),
    ),
    Mutant(
        "item-pasted-into-cmd",
        "item data is never run as code",
        "worker/polling_tasks.py",
        "        job = dict(self._job)\n",
        "        job = dict(self._job)\n"
        '        job["cmd"] = substitute(job["cmd"], data, data_base64)\n',
        ("tests/sources/test_item_data_is_data.py", "tests/worker/test_item_data.py"),
    ),
    Mutant(
        "undeliverable-item-taken",
        "an item no process can receive becomes a dead letter, never a task",
        "worker/polling.py",
        "            if problem is None:\n",
        "            if problem is None or True:\n",
        ("tests/sources/test_undeliverable_items.py",),
    ),
    Mutant(
        "nul-accepted-at-the-api",
        "what a process cannot receive is refused at the edge",
        "shared/model.py",
        '    if "\\x00" in value:\n',
        "    if False:\n",
        ("tests/test_exec_text.py",),
    ),
    Mutant(
        "sql-comment-kept",
        "a query ending in a comment runs",
        "shared/sources/sqltext.py",
        "    return query[: _last_token_end(query, mysql)]",
        "    return query",
        ("tests/sources/test_sqlquery.py",),
    ),
    Mutant(
        "cron-never-fires-accepted",
        "a schedule that can never fire is refused",
        "shared/sources/cron.py",
        "    if next_fire_time(value, time.time(), FIRES_WITHIN_YEARS) is None:",
        "    if False:",
        ("tests/sources/test_cron_schedules.py",),
    ),
    Mutant(
        "invalid-utf8-replaced-in-base64",
        "HIPPO_DATA_BASE64 carries the item's bytes",
        "shared/sources/redislist.py",
        ", raw=value)",
        ")",
        ("tests/sources/test_redislist.py",),
    ),
    Mutant(
        "deadlines-fence",
        "one fenced leader",
        LEADER_SCRIPTS,
        FENCE,
        "",
        (FENCED,),
        after="-- due_deadlines:",
    ),
    Mutant(
        "delayed-retry-counted-as-waiting",
        "a delayed retry neither holds offers nor causes a REVIVE before it is due",
        "shared/store/leadership.py",
        "return max(0, int(waiting) - int(delayed))",
        "return int(waiting)",
        ("tests/worker/test_deadline_scripts.py",),
    ),
    Mutant(
        "delayed-retry-launchable-at-once",
        "a delayed retry waits until it is due",
        "shared/store/task_lua.py",
        "  if due then\n    redis.call('ZADD', K.tasks_delayed, due, mid)\n    return\n  end",
        "",
        ("tests/worker/test_deadline_scripts.py",),
    ),
    Mutant(
        "runtime-kill-not-retried",
        "a run killed by max_runtime_seconds spends a task retry",
        LEADER_SCRIPTS,
        "if state == 'TASK_KILLED' then budget = 'task' end",
        "",
        ("tests/worker/test_deadline_scripts.py",),
    ),
    Mutant(
        "cron-ignores-timezone",
        "cron schedules are read in the queue's time zone",
        "shared/sources/cron.py",
        "schedule = croniter(cronstring, _at(now + 0.001, tz))",
        "schedule = croniter(cronstring, _at(now + 0.001, datetime.UTC))",
        ("tests/sources/test_cron_time_zones.py",),
    ),
    Mutant(
        "cron-fire-times-batched",
        "each cron fire time is a task of its own",
        "worker/polling.py",
        "if not self._source(prepared.queue_type).batches_items:",
        "if False:",
        ("tests/worker/test_cron_queues.py",),
    ),
    Mutant(
        "history-not-kept",
        "a run's state history is kept with its record",
        "shared/store/task_lua.py",
        "  add_history(mid, {state = state,",
        "  local _ = ({state = state,",
        ("tests/worker/test_task_history.py",),
    ),
    Mutant(
        "staging-index-kept-after-staging",
        "a run staging too long is reconciled (and only those are read)",
        "shared/store/task_lua.py",
        "  elseif st.mesos_state == 'TASK_STAGING' then\n"
        "    redis.call('ZREM', K.tasks_staging_since, mid)",
        "  elseif false then",
        ("tests/worker/test_leader_store.py",),
    ),
    Mutant(
        "unanswered-never-asked-again",
        "reconciliation until answered",
        "worker/reconciliation.py",
        "return [(mid, a.agent_id) for mid, a in unanswered.items() if a.due_s <= now]",
        "return []",
        ("tests/worker/test_partitions.py",),
    ),
    Mutant(
        "unvouched-never-given-up",
        "a task Mesos cannot vouch for gives up its slot",
        "worker/reconciliation.py",
        "        for (mesos_id, agent_id), why in found:",
        "        for (mesos_id, agent_id), why in found[:0]:",
        ("tests/worker/test_partitions.py",),
    ),
    Mutant(
        "comeback-not-killed",
        "one run per task: a run that comes back after its retry is killed",
        "worker/status_updates.py",
        "            found.to_kill.append((status, result.outcome))",
        "            pass",
        ("tests/worker/test_partitions.py",),
    ),
    Mutant(
        "drained-kill-not-retried",
        "a task killed by a draining agent spends a system retry",
        "worker/retries.py",
        '        return "system" if reason in SYSTEM_KILL_REASONS else None',
        "        return None",
        ("tests/worker/test_failure_budgets.py",),
    ),
    Mutant(
        "invalid-offers-spend-a-retry",
        "a run whose offers were invalid is made again at no cost",
        LEADER_SCRIPTS,
        "if not free then run[left_field] = tonumber(st[left_field]) - 1 end",
        "run[left_field] = tonumber(st[left_field]) - 1",
        ("tests/worker/test_failure_budgets.py",),
    ),
    Mutant(
        "accept-with-dead-offers",
        "no ACCEPT is sent with offers of an ended subscription",
        "worker/mesos/client.py",
        "if stream_id is not None and stream_id != self._subscription.stream_id:",
        "if False:",
        ("tests/mesos/test_offers_gone.py",),
    ),
    Mutant(
        "unfit-offers-declined-briefly",
        "offers no waiting run fits are declined for long",
        "worker/offer_book.py",
        "(unfit, UNFIT_REFUSE_S)",
        "(unfit, None)",
        ("tests/worker/test_unfit_tasks.py",),
    ),
    Mutant(
        "noreplicas-is-a-bug",
        "a master refusing writes for want of replicas is Redis unavailable (503, retry)",
        "shared/store/connection.py",
        '_REFUSED_FOR_WANT_OF_REPLICAS = "NOREPLICAS"',
        '_REFUSED_FOR_WANT_OF_REPLICAS = "NO-SUCH-CODE"',
        ("tests/test_store_errors.py",),
    ),
    Mutant(
        "toggle-get-not-a-write",
        "a read-only token changes nothing",
        "api/auth.py",
        '_WRITE_SUFFIXES = ("/kill", "/toggle", "/enable", "/disable")',
        '_WRITE_SUFFIXES = ("/kill", "/enable", "/disable")',
        ("tests/test_security.py",),
    ),
    Mutant(
        "sql-filter-field-unchecked",
        "settings are never SQL",
        "shared/sources/sqlquery.py",
        "if not _IDENTIFIER.fullmatch(value):",
        "if not value:",
        (
            "tests/sources/test_sqlquery.py"
            "::test_a_filter_field_that_is_not_an_identifier_is_refused_naming_the_field",
        ),
    ),
)


def copy_checkout(dest: Path) -> None:
    """Tracked and untracked (not ignored) files of the checkout, copied to `dest`."""
    shutil.rmtree(dest, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def apply(tree: Path, mutant: Mutant) -> str:
    """Write the mutant into the copy; returns the original text to restore."""
    path = tree / mutant.path
    original = path.read_text()
    start = original.index(mutant.after) if mutant.after else 0
    head, tail = original[:start], original[start:]
    if tail.count(mutant.old) < 1 or (not mutant.after and tail.count(mutant.old) != 1):
        raise SystemExit(f"{mutant.name}: the text to change is not found once in {mutant.path}")
    path.write_text(head + tail.replace(mutant.old, mutant.new, 1))
    return original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these mutants")
    parser.add_argument("--full", action="store_true", help="run the whole suite per mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list:
        for m in chosen:
            print(f"{m.name:34} {m.promise}")
        return 0
    tree = WORK / "tree"
    copy_checkout(tree)
    # The copy's own hippo/ gets the other packages linked in (hippo/api -> ../api, ...),
    # so that `hippo.*` resolves inside the copy wherever pytest puts it on sys.path;
    # otherwise the installed (editable) finder would answer `hippo.api` from ROOT.
    for name, folder in top_level_packages(tree).items():
        (tree / "hippo" / name).symlink_to(tree / folder)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    survived = []
    for mutant in chosen:
        original = apply(tree, mutant)
        targets = [] if args.full else list(mutant.tests)
        began = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *targets],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            (tree / mutant.path).write_text(original)
        took = time.monotonic() - began
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        if result.returncode == 1:
            print(f"killed    {mutant.name:34} {took:5.1f} s  {failed[0] if failed else ''}")
        else:
            survived.append(mutant.name)
            tail = result.stdout.strip().splitlines()[-1:] or ["?"]
            code = result.returncode
            print(f"SURVIVED  {mutant.name:34} {took:5.1f} s  pytest exit {code}: {tail[0]}")
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
