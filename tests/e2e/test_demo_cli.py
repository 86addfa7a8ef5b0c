"""`goodsflow demo` as a newcomer runs it: the whole pipeline in one process, no servers."""

from __future__ import annotations

from schemas import Alert
from tests.e2e.cli import goodsflow


def test_the_embedded_demo_runs_without_servers_and_reports(tmp_path):
    # no stack addresses at all: nothing may be contacted
    env = {
        "GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "GOODSFLOW_NEO4J__URI": "bolt://127.0.0.1:1",
    }
    out = tmp_path / "out"
    result = goodsflow(
        "demo", "--shipments", "600", "--lang", "en", "--output", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "embedded demo (no servers): 600 shipments" in text
    for section in (
        "Open alerts by rule:",
        "Open alerts by locality:",
        "Most suspicious",
        "Rings:",
    ):
        assert section in text, section
    assert "planted suspicious shipments found" in text
    # the task forces' case steps: one handed over, the rest closed, counted per rule
    cases = text[text.index("Task forces at work") :].splitlines()
    assert ": acknowledged by Đội QLTT " in cases[1] and ", handed to " in cases[1]
    closed = [line for line in cases if ": closed by Đội QLTT " in line]
    assert closed and all(line.endswith(("confirmed", "false_alarm")) for line in closed)
    per_rule = next(line for line in cases if "confirmed / closed, per rule:" in line)
    assert sum(int(part.split("/")[1]) for part in per_rule.split(":")[1].split(",")) == len(closed)
    assert "CaseStep " in text and "ON " in text and "TO 1" in text  # in the graph
    alerts = [
        Alert.model_validate_json(line) for line in (out / "alerts.jsonl").read_text().splitlines()
    ]
    assert alerts and len({a.alert_id for a in alerts}) == len(alerts)  # the latest revision each
    assert "Ha Noi" in text  # --lang en: unaccented names
    vi = goodsflow(
        "demo", "--shipments", "200", "--output", str(tmp_path / "vi"), env=env, cwd=tmp_path
    )
    assert vi.returncode == 0 and "Hà Nội" in vi.stdout and "Lô hàng" in vi.stdout
