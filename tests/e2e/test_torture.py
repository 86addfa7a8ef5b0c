"""The torture harness (bench/torture.py), CI-sized: real worker processes killed with
SIGKILL, joining and leaving, Neo4j restarted, while a foreign client produces with mixed
codecs; the graph and the alerts end exactly as the in-process run's."""

from __future__ import annotations

import random

from bench.torture import Plan, torture


def _explain(outcome) -> str:
    logs = sorted(outcome.log_dir.glob("worker-*.log"))
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-15:]) for p in logs)
    return "\n".join([outcome.report.line(), *outcome.report.details, *outcome.faults, tails])


def test_two_workers_killed_three_times_and_neo4j_restarted_lose_nothing(settings, tmp_path):
    seed = random.SystemRandom().randrange(1_000_000)
    plan = Plan(
        shipments=3000, workers=2, kills=3, joins=0, neo4j_restarts=1, kafka_restarts=0,
        produce_seconds=20, seed=seed, timeout_s=600,
    )  # fmt: skip
    outcome = torture(plan, tmp_path)
    assert outcome.report.events > 19_000
    assert outcome.report.clean, f"seed {seed}\n{_explain(outcome)}"


def test_three_workers_with_one_joining_and_one_leaving_give_the_same_answers(settings, tmp_path):
    seed = random.SystemRandom().randrange(1_000_000)
    plan = Plan(
        shipments=1500, workers=3, kills=0, joins=2, neo4j_restarts=0, kafka_restarts=0,
        produce_seconds=15, seed=seed, timeout_s=600,
    )  # fmt: skip
    outcome = torture(plan, tmp_path)
    assert outcome.report.clean, f"seed {seed}\n{_explain(outcome)}"
