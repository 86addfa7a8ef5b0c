"""`goodsflow evaluate` as a user runs it."""

from tests.e2e.cli import goodsflow


def test_evaluate_prints_a_table_per_seed():
    result = goodsflow("evaluate", "--shipments", "400", "--seed", "5", "--seed", "6")
    assert result.returncode == 0, result.stderr
    assert "seed 5: 400 shipments" in result.stdout and "seed 6: 400 shipments" in result.stdout
    assert result.stdout.count("false alerts on legitimate shipments") == 2
    assert "route_deviation" in result.stdout and "precision" in result.stdout


def test_a_bad_detection_file_is_named_not_a_traceback(tmp_path):
    bad = tmp_path / "detection.toml"
    bad.write_text("[severity]\nhealth_goods_bonus = 500\n")
    result = goodsflow("evaluate", "--shipments", "100", "--config", str(bad))
    assert result.returncode == 1
    assert str(bad) in result.stderr and "severity.health_goods_bonus" in result.stderr
    assert "Traceback" not in result.stderr
