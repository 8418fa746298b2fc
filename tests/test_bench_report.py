"""The benchmark report (bench/report.py) turns bench/run's JSON into the markdown table
and PNG charts of docs/benchmarks.md, without running any benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report

SAMPLE = {
    "machine": {"cpus": 2, "cpu_model": "Test CPU", "python": "3.11.7", "redis": "7.0.15"},
    "started": "2026-11-30T17:00:00+00:00",
    "quick": True,
    "loadavg_start": [0.5, 0.4, 0.3],
    "loadavg_end": [0.9, 0.7, 0.5],
    "benchmarks": {
        "scheduler": {
            "title": "Scheduler",
            "seconds": 12.5,
            "quick": True,
            "loadavg_before": [0.5, 0.4, 0.3],
            "loadavg_after": [1.2, 0.8, 0.4],
            "measures": [
                {
                    "name": "tasks/s to RUNNING, 10,000 waiting",
                    "value": 2500.0,
                    "unit": "tasks/s",
                    "reference": 10000.0,
                    "reference_name": "bare loop",
                    "goal": "≥ 10,000",
                    "better": "higher",
                },
                {"name": "leader CPU per launch", "value": 0.25, "unit": "ms"},
            ],
            "charts": [
                {
                    "file": "bench-sample-rate.png",
                    "title": "tasks/s by waiting count",
                    "x_label": "waiting",
                    "y_label": "tasks/s",
                    "x_log": True,
                    "series": [
                        {"label": "Hippo", "points": [[1000, 3000.0], [10000, 2500.0]]},
                        {
                            "label": "reference",
                            "points": [[1000, 9000.0], [10000, 10000.0]],
                            "reference": True,
                        },
                    ],
                }
            ],
            "notes": "The reference is a bare loop.",
        },
        "broken": {"title": "Broken", "error": "Traceback ...\nRuntimeError: boom"},
    },
}


def test_the_report_shows_each_figure_with_its_reference_ratio_and_chart(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    report.write(SAMPLE, md, tmp_path / "img")
    text = md.read_text()
    assert (
        "| tasks/s to RUNNING, 10,000 waiting | 2,500 tasks/s "
        "| 10,000 tasks/s (bare loop) | 0.25× | ≥ 10,000 |" in text
    )
    assert "| leader CPU per launch | 0.25 ms |  |  |  |" in text
    assert "![tasks/s by waiting count](img/bench-sample-rate.png)" in text
    assert "## Scheduler" in text and "The reference is a bare loop." in text
    assert "2 CPUs (Test CPU), Python 3.11.7, Redis 7.0.15" in text
    assert "0.5, 0.4, 0.3" in text  # the load average the reader needs to judge the run
    assert "Measured on a loaded machine" not in text
    # The benchmarks' own load at the end is not other work; a busy machine at the start is.
    assert "Measured on a loaded machine" not in report.markdown(
        {**SAMPLE, "loadavg_end": [3.5, 2.0, 1.0]}
    )
    loaded = {**SAMPLE, "loadavg_start": [3.5, 2.0, 1.0]}
    assert "Measured on a loaded machine** (1-minute load average 3.5 on 2" in (
        report.markdown(loaded)
    )
    assert "RuntimeError: boom" in text  # a failed module shows as failed
    png = (tmp_path / "img" / "bench-sample-rate.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_the_report_gives_the_speed_probe_and_flags_a_run_whose_speed_moved() -> None:
    """The load average misses a shared host slowing the CPUs: the speed probe (a fixed
    loop, timed at the start, the end and before each module, while no benchmark
    process runs) shows it, and a run whose probe moved by more than a quarter is
    flagged. The probes a benchmark's own processes may slow (in a step, after a
    module) are shown, not counted."""
    steady = {**SAMPLE, "speed_probe_ms_start": 4.4, "speed_probe_ms_end": 4.6}
    steady["benchmarks"] = {
        "scheduler": {
            **SAMPLE["benchmarks"]["scheduler"],  # type: ignore[dict-item]
            "speed_probe_ms_before": 4.5,
            "speed_probe_ms_after": 7.8,
            "steps": [{"step": "seed", "speed_probe_ms_before": 4.3, "speed_probe_ms_after": 9.0}],
        }
    }
    text = report.markdown(steady)
    assert "4.4 at the start, 4.6 at the end, 4.4 to 4.6 before the modules" in text
    assert "1-minute load average 0.5 → 1.2; speed probe 4.5 → 7.8 ms." in text
    assert "speed moved" not in text
    moved = {**steady, "speed_probe_ms_end": 8.2}
    assert "**The machine's speed moved during the run** (speed probe 4.4 to 8.2 ms, 1.86×)" in (
        report.markdown(moved)
    )
    assert "Speed probe" not in report.markdown(SAMPLE)  # results from before the probe


def test_bursts_alternate_the_frameworks_and_report_each_ones_median_run() -> None:
    """bench/scheduler.py: a small burst runs three times per framework, Hippo's and the
    reference's in turn, neither always first, so a slow stretch of the machine falls
    on both; each row
    reports the median run, and every run's rate is kept."""
    from bench import scheduler

    order: list[str] = []
    rates = {"hippo": iter([7000.0, 5000.0, 6000.0]), "bare": iter([9000.0, 8000.0, 4000.0])}

    def burst(who: str) -> dict[str, Any]:
        order.append(who)
        rate = next(rates[who])
        return {"running_rate": rate, "p99_ms": rate / 10}

    found = scheduler.alternated(
        scheduler.repeats_for(10_000), lambda: burst("hippo"), lambda: burst("bare")
    )

    assert order == ["hippo", "bare", "bare", "hippo", "hippo", "bare"]
    assert found["hippo"] == {"running_rate": 6000.0, "p99_ms": 600.0}  # one run's figures
    assert found["bare"]["running_rate"] == 8000.0
    assert found["hippo_runs"] == [7000.0, 5000.0, 6000.0]
    assert scheduler.repeats_for(100_000) == 1
    # Of an even number of runs, the slower middle one: never the flattering one.
    assert scheduler.median_run([{"running_rate": 2.0}, {"running_rate": 1.0}]) == {
        "running_rate": 1.0
    }


def test_queue_bursts_are_a_queues_runs_each_with_its_own_item(redis_url: str) -> None:
    """bench/scheduler.py's queue burst: runs as a queue's poller stores them, so that the
    leader decodes each one's definition (its item in its env), as in production, and
    not one definition for all, as a one-off burst lets it."""
    import redis

    from bench.cluster import GENEROUS, KEYS, QUEUE_ID, seed_burst
    from hippo.worker.candidates import parse_waiting

    r = redis.Redis.from_url(redis_url)
    seed_burst(r, 3, GENEROUS, queue=True)

    mids = [m.decode() for m in r.zrange(KEYS.tasks_by_state("WAITING_ON_OFFERS"), 0, -1)]
    assert len(mids) == 3
    runs = [parse_waiting(mid, *r.hmget(KEYS.task(mid), "spec", "status")) for mid in mids]
    assert {run.candidate.task_id for run in runs} == {QUEUE_ID}
    assert {run.candidate.queue_id for run in runs} == {QUEUE_ID}
    items = {run.definition.env["HIPPO_DATA"] for run in runs}
    assert len(items) == 3  # a definition per run
    assert all(run.definition.env["ITEM"] in items for run in runs)  # $HIPPO_DATA filled in
    assert r.hget(KEYS.queue(QUEUE_ID), "status") == b"DISABLED"  # no poll meanwhile


def test_the_round_growth_is_shown_beside_the_spread_of_the_rounds() -> None:
    """Whether the offer round stays flat as finished records pile up is read against how
    far apart the rounds of one size lie."""
    from bench import scheduler

    rounds = [
        {
            "finished": 1000,
            "hippo_ms": 40.0,
            "hippo_quartiles_ms": [38.0, 43.5],
            "bare_ms": 20.0,
            "bare_quartiles_ms": [19.0, 21.0],
        },
        {
            "finished": 1_000_000,
            "hippo_ms": 42.0,
            "hippo_quartiles_ms": [40.0, 45.0],
            "bare_ms": 19.0,
            "bare_quartiles_ms": [18.5, 20.0],
        },
    ]
    text = scheduler.round_spread(rounds)
    assert "the median round grew +5% (Hippo) and -5% (bare claim)" in text
    assert "1,000 finished: Hippo 38.0–43.5, bare claim 19.0–21.0" in text
    assert "1,000,000 finished: Hippo 40.0–45.0, bare claim 18.5–20.0" in text
    assert scheduler.round_spread([{**r, "hippo_quartiles_ms": None} for r in rounds])
    assert scheduler.round_spread(rounds[:1]) == ""


def test_a_rate_goal_beyond_the_bare_framework_is_called_so() -> None:
    from bench import scheduler

    def bursts(hippo: float, bare: float) -> dict[int, dict[str, Any]]:
        return {10_000: {"hippo": {"running_rate": hippo}, "bare": {"running_rate": bare}}}

    text = scheduler.rate_goal_reach(bursts(6_859, 7_669))
    assert "beyond this machine: the bare framework, with no Hippo logic, reached 7,669" in text
    assert "Hippo reached 0.89× of it" in text
    assert scheduler.rate_goal_reach(bursts(10_088, 11_446)) == ""  # reachable there
    assert scheduler.rate_goal_reach({}) == ""  # a quick run: no 10,000 burst
