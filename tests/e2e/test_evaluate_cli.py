"""`goodsflow evaluate` as a user runs it."""

import json

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


# Labelled traffic written by hand from docs/CONTRACT.md, not by the simulator: what real
# checkpoints see (a night's rest, a declared route back into Hà Nội, a plate misread once,
# a wait at the gate) and what the rules are for (a swapped truck, a broken seal, a second
# entry into the country).
D = "2026-11-20T"


def _decl(sid, route, at, plate="29C-123.45"):
    return {
        "event_id": f"{sid}-d", "event_type": "shipment.declared", "occurred_at": f"{D}{at}",
        "checkpoint_id": route[0], "shipment_id": sid,
        "shipper": {"party_id": f"P-{sid}-S", "name": "Công ty TNHH Minh Anh"},
        "consignee": {"party_id": f"P-{sid}-C", "name": "Hộ kinh doanh Đồng Xuân"},
        "origin_country": "CN", "vehicle_plate": plate, "driver_id": f"DRV-{sid}",
        "goods": [{"hs_code": "610910", "description": "Áo phông", "category": "clothing",
                   "quantity": 100, "unit": "thùng", "weight_kg": 1800,
                   "value_vnd": 150_000_000}],
        "declared_route": route, "destination_locality": "HN",
    }  # fmt: skip


def _scan(sid, n, cp, at, direction="passing", plate="29C-123.45", seal="intact"):
    return {
        "event_id": f"{sid}-s{n}", "event_type": "checkpoint.scanned",
        "occurred_at": at if "T" in at else f"{D}{at}", "checkpoint_id": cp,
        "shipment_id": sid, "direction": direction, "observed_plate": plate,
        "seal_status": seal,
    }  # fmt: skip


HAND_WRITTEN = [
    # legitimate: in at Hữu Nghị 08:00, rests at Bắc Giang from 21:30 to 05:30, on to Hà Nội
    (
        None,
        [
            _decl(
                "OK-REST",
                ["LS-HUUNGHI", "LS-CHILANG", "BN-BACGIANG", "HN-DONGXUAN"],
                "08:00:00+07:00",
            ),
            _scan("OK-REST", 0, "LS-HUUNGHI", "08:30:00+07:00", "inbound"),
            _scan("OK-REST", 1, "LS-CHILANG", "17:40:00+07:00"),
            _scan("OK-REST", 2, "BN-BACGIANG", "21:30:00+07:00"),
            _scan("OK-REST", 3, "HN-DONGXUAN", "2026-11-21T07:10:00+07:00", "inbound"),
        ],
    ),
    # legitimate: Nội Bài -> Bắc Ninh -> Hà Nội markets, declared so; one plate misread
    (
        None,
        [
            _decl(
                "OK-LOOP",
                ["HN-NOIBAI", "BN-TUSON", "BN-BACGIANG", "HN-NINHHIEP", "HN-DONGXUAN"],
                "09:00:00+07:00",
            ),
            _scan("OK-LOOP", 0, "HN-NOIBAI", "09:20:00+07:00", "inbound"),
            _scan("OK-LOOP", 1, "BN-TUSON", "15:40:00+07:00", plate="29C-128.45"),
            _scan("OK-LOOP", 2, "BN-BACGIANG", "16:30:00+07:00"),
            _scan("OK-LOOP", 3, "HN-NINHHIEP", "17:50:00+07:00"),
            _scan("OK-LOOP", 4, "HN-DONGXUAN", "18:40:00+07:00", "inbound"),
        ],
    ),
    (
        "vehicle_swap",
        [
            _decl("SWAP", ["LS-HUUNGHI", "LS-CHILANG", "BN-BACGIANG"], "08:00:00+07:00"),
            _scan("SWAP", 0, "LS-HUUNGHI", "08:30:00+07:00", "inbound"),
            _scan("SWAP", 1, "LS-CHILANG", "15:00:00+07:00", plate="98H-765.43"),
            _scan("SWAP", 2, "BN-BACGIANG", "16:30:00+07:00", plate="98H-765.43"),
        ],
    ),
    (
        "seal_tampering",
        [
            _decl("SEAL", ["LS-HUUNGHI", "LS-CHILANG", "BN-BACGIANG"], "08:00:00+07:00"),
            _scan("SEAL", 0, "LS-HUUNGHI", "08:30:00+07:00", "inbound"),
            _scan("SEAL", 1, "LS-CHILANG", "15:00:00+07:00", seal="broken"),
        ],
    ),
    (
        "circular_routing",
        [
            _decl(
                "AGAIN",
                ["LS-HUUNGHI", "LS-CHILANG", "LS-TANTHANH", "BN-BACGIANG"],
                "08:00:00+07:00",
            ),
            _scan("AGAIN", 0, "LS-HUUNGHI", "08:30:00+07:00", "inbound"),
            _scan("AGAIN", 1, "LS-CHILANG", "15:00:00+07:00"),
            _scan("AGAIN", 2, "LS-TANTHANH", "16:00:00+07:00", "inbound"),
            _scan("AGAIN", 3, "BN-BACGIANG", "19:00:00+07:00"),
        ],
    ),
]


def _files(tmp_path):
    events = tmp_path / "events.jsonl"
    truth = tmp_path / "truth.jsonl"
    lines = [json.dumps(ev, ensure_ascii=False) for _, evs in HAND_WRITTEN for ev in evs]
    events.write_text("\n".join([lines[0], "{not an event", *lines[1:]]) + "\n", encoding="utf-8")
    truth.write_text(
        "".join(
            json.dumps({"shipment_id": evs[0]["shipment_id"], "rule": rule}) + "\n"
            for rule, evs in HAND_WRITTEN
            if rule
        ),
        encoding="utf-8",
    )
    return events, truth


def test_detect_writes_the_alerts_of_a_users_file_and_names_the_bad_line(tmp_path):
    events, _ = _files(tmp_path)
    out = tmp_path / "alerts.jsonl"
    result = goodsflow("detect", str(events), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert f"{events}:2: skipped: not JSON" in result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["events"] == sum(len(evs) for _, evs in HAND_WRITTEN)
    assert summary["skipped_lines"] == 1
    alerts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    flagged = {(a["shipment_id"], a["rule"]) for a in alerts if a["status"] == "open"}
    assert flagged == {(evs[0]["shipment_id"], rule) for rule, evs in HAND_WRITTEN if rule}


def test_evaluate_scores_a_users_own_labels(tmp_path):
    events, truth = _files(tmp_path)
    result = goodsflow("evaluate", "--events", str(events), "--truth", str(truth), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_rule = {r["rule"]: r for r in report["rules"]}
    for rule in ("vehicle_swap", "seal_tampering", "circular_routing"):
        assert (by_rule[rule]["precision"], by_rule[rule]["recall"]) == (1.0, 1.0), rule
    assert report["legitimate"] == 2 and report["false_alerts_per_100"] == 0.0
    bad = tmp_path / "bad-truth.jsonl"
    bad.write_text('{"shipment_id": "SWAP", "rule": "vehicle_swap"}\n{"rule": "x"}\n')
    result = goodsflow("evaluate", "--events", str(events), "--truth", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2: shipment_id" in result.stderr and "Traceback" not in result.stderr
