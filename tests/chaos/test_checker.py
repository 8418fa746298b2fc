"""The fault-run checker and report as pure functions: each broken promise is named."""

from __future__ import annotations

import json
from pathlib import Path

from tests.chaos.checker import Answer, Collected, Run, Sample, append_report, check
from tests.chaos.report import table


def collected(**fields: object) -> Collected:
    base = Collected(
        fault="f",
        items={"task:a", "source:q:1"},
        runs=[Run("a.1", "task:a", "TASK_FINISHED"), Run("q.1", "source:q:1", "TASK_FINISHED")],
        samples=[Sample(0.1, "q", 3, 3)],
        answers=[Answer(0.1, 201, False)],
        recovery_s=1.5,
    )
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_a_run_that_kept_every_promise_has_no_failures() -> None:
    result = check(collected())
    assert result.failures() == []
    assert (result.items, result.recovery_s, result.samples, result.samples_at_cap) == (
        2,
        1.5,
        1,
        1,
    )


def test_losses_duplicates_caps_and_stuck_runs_are_each_listed() -> None:
    result = check(
        collected(
            items={"task:a", "task:lost", "source:q:1"},
            maybe_items={"task:maybe", "task:maybe-twice"},
            runs=[
                Run("a.1", "task:a", "TASK_LOST"),
                Run("a.2", "task:a", "TASK_FINISHED"),  # a retry: still one success
                Run("q.1", "source:q:1", "TASK_FINISHED"),
                Run("q.2", "source:q:1", "TASK_FINISHED"),
                Run("m.1", "task:maybe-twice", "TASK_FINISHED"),
                Run("m.2", "task:maybe-twice", "TASK_FINISHED"),
                Run("s.1", "task:s", "TASK_RUNNING"),
            ],
            samples=[Sample(0.1, "q", 4, 3), Sample(0.2, "q", 3, 3)],
        )
    )
    assert result.lost == ["task:lost"]  # task:maybe is excused: its POST got no answer
    assert result.duplicates == ["source:q:1", "task:maybe-twice"]
    assert result.cap_violations == ["q 4>3 at 0.10s"]
    assert result.stuck == ["s.1 TASK_RUNNING"]
    assert len(result.failures()) == 4


def test_a_500_or_no_2xx_after_redis_came_back_fails_the_run() -> None:
    answers = [Answer(0.1, 201, False), Answer(0.2, 503, True), Answer(0.3, 500, True)]
    result = check(collected(answers=answers, redis_restarted=True))
    assert (result.api_500s, result.api_recovered) == (1, False)
    assert result.api_answers_while_redis_away == {"500": 1, "503": 1}
    answers.append(Answer(0.4, 201, False))
    assert check(collected(answers=answers, redis_restarted=True)).api_recovered
    assert check(collected(recovery_s=None)).failures() == [
        "no recovery time: new work never completed after the fault"
    ]


def test_the_report_is_one_json_line_per_run_and_a_table_per_fault(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    for recovery in (1.0, 2.5):
        append_report(check(collected(recovery_s=recovery)), {"HIPPO_CHAOS_REPORT": str(path)})
    append_report(check(collected()), {})  # unset: nothing written
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2
    assert table(rows).splitlines()[2] == "| f | 2 | 0 | 0 | 0 | 0 | 0 | 2.5 s |"
