"""The evaluation harness, and the issue's targets on a small mix (pure: no servers)."""

import pytest

from goodsflow.evaluation import RuleScore, evaluate, render
from producers.simulation import SimulationConfig
from streams import load_detection_config


@pytest.fixture(scope="module")
def result():
    return evaluate(SimulationConfig(shipments=3000, seed=31), load_detection_config())


def test_implemented_rules_meet_the_targets_on_an_untuned_seed(result):
    scored = [s for s in result.scores if s.implemented and s.labelled]
    assert {s.rule for s in scored} >= {"route_deviation", "impossible_travel", "weight_change"}
    for score in scored:
        assert score.precision is not None and score.precision >= 0.95, score
        assert score.recall is not None and score.recall >= 0.95, score
    assert result.false_alerts_per_100 <= 1.0


def test_scores_count_per_shipment_and_rule():
    score = RuleScore("r", True, labelled=10, tp=8, fp=2, fn=2)
    assert (score.precision, score.recall) == (0.8, 0.8)
    assert score.f1 == pytest.approx(0.8)
    assert RuleScore("r", True).precision is None


def test_the_report_names_unimplemented_rules(result):
    text = render(result)
    assert "unexplained_stop" in text and "rule not implemented yet" in text
    assert "false alerts on legitimate shipments" in text
