"""`goodsflow api` as a real process against the real Neo4j and Kafka: tokens, answers,
readiness, and what happens when Neo4j goes away is covered by the unit tests (503)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.cli import running_api
from tests.factories import ROUTE, free_port
from tests.graph_world import build_world

TOKEN = "e2e-token-0123456789abcdef"


@pytest.fixture
def api(tmp_path: Path):
    with running_api(tmp_path, f"other-token-0123456789,{TOKEN}", free_port()) as base:
        yield base


def get(url: str, token: str | None = TOKEN) -> tuple[int, object]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_api_answers_investigators_with_a_token_and_only_with_one(
    api, neo4j_driver, settings, event_time_window, monkeypatch
):
    world = build_world(neo4j_driver, settings, monkeypatch)
    status, body = get(f"{api}/shipments/{world.a.shipment_id}", token=None)
    assert status == 401 and body["error"] == "unauthorised"
    status, body = get(f"{api}/shipments/{world.a.shipment_id}")
    assert status == 200
    assert [p["checkpoint_id"] for p in body["passages"]] == [*ROUTE, "TN-THAINGUYEN"]
    (alert,) = body["alerts"]
    status, detail = get(f"{api}/alerts/{alert['alert_id']}")
    assert status == 200 and all(f["recorded"] for f in detail["evidence"])
    since, until = world.t0.isoformat(), (world.t0 + timedelta(days=2)).isoformat()
    query = urllib.parse.urlencode({"since": since, "until": until})
    status, passages = get(f"{api}/checkpoints/{ROUTE[0]}/passages?{query}")
    assert status == 200 and len(passages) == 3
    assert get(f"{api}/shipments/SHP-missing")[0] == 404
    assert get(f"{api}/ready", token=None) == (
        200,
        {"status": "ready", "checks": {"neo4j": "ok", "kafka": "ok"}},
    )


def test_the_api_refuses_to_start_without_tokens(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSFLOW_API__")}
    result = subprocess.run(
        [sys.executable, "-m", "goodsflow", "api", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no API tokens" in result.stderr and "Traceback" not in result.stderr
