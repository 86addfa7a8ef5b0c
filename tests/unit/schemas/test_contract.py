"""The contract's stability rules (docs/CONTRACT.md)."""

import json
from pathlib import Path

import pytest

from schemas import (
    EVENT_TYPES,
    CargoTransferred,
    EventCorrected,
    InspectionRecorded,
    InvalidEventError,
    SeizureRecorded,
    event_to_json,
    parse_event,
)
from schemas.jsonschema import render, schema_documents

DOCS = Path(__file__).parents[3] / "docs"
EXAMPLES = [
    json.loads(line)
    for line in (DOCS / "examples" / "events-v1.jsonl").read_text(encoding="utf-8").splitlines()
]


def test_every_event_type_has_a_valid_example():
    parsed = [parse_event(json.dumps(example)) for example in EXAMPLES]
    assert {ev.event_type for ev in parsed} == set(EVENT_TYPES)
    for example, ev in zip(EXAMPLES, parsed, strict=True):
        assert json.loads(event_to_json(ev))["event_id"] == example["event_id"]


@pytest.mark.parametrize("name", sorted(schema_documents()))
def test_checked_in_json_schema_matches_the_models(name):
    path = DOCS / "schema" / name
    assert path.exists(), f"run `goodsflow schema export` and commit {path}"
    assert path.read_text(encoding="utf-8") == render(schema_documents()[name]), (
        f"{path} is stale: run `goodsflow schema export` and review the contract change"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["event_type"])
def test_an_added_optional_field_does_not_break_a_v1_consumer(example):
    newer = {**example, "added_later": {"anything": [1, 2]}, "another": "x"}
    assert parse_event(json.dumps(newer)) == parse_event(json.dumps(example))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["event_type"])
def test_a_v2_event_is_rejected_with_that_reason(example):
    with pytest.raises(InvalidEventError) as err:
        parse_event(json.dumps({**example, "schema_version": 2}))
    assert err.value.problems == [{"field": "schema_version", "error": "Input should be 1"}]


def test_an_unknown_event_type_is_rejected_not_dropped():
    with pytest.raises(InvalidEventError) as err:
        parse_event(json.dumps({**EXAMPLES[0], "event_type": "vehicle.refuelled"}))
    assert err.value.problems[0]["field"] == "event_type"
    assert "vehicle.refuelled" in err.value.reason


def _example(event_type):
    return next(e for e in EXAMPLES if e["event_type"] == event_type)


def test_an_inspection_that_is_not_cleared_needs_findings():
    data = {**_example("inspection.recorded"), "findings": []}
    with pytest.raises(InvalidEventError, match="needs findings"):
        parse_event(json.dumps(data))
    assert isinstance(parse_event(json.dumps({**data, "outcome": "cleared"})), InspectionRecorded)


def test_a_transfer_must_go_to_another_shipment():
    data = _example("cargo.transferred")
    assert isinstance(parse_event(json.dumps(data)), CargoTransferred)
    with pytest.raises(InvalidEventError, match="must differ"):
        parse_event(json.dumps({**data, "to_shipment_id": data["shipment_id"]}))


def test_a_correction_cannot_correct_itself_and_names_a_known_reason():
    data = _example("event.corrected")
    assert isinstance(parse_event(json.dumps(data)), EventCorrected)
    with pytest.raises(InvalidEventError, match="cannot correct itself"):
        parse_event(json.dumps({**data, "corrected_event_id": data["event_id"]}))
    with pytest.raises(InvalidEventError) as err:
        parse_event(json.dumps({**data, "reason": "typo"}))
    assert err.value.problems[0]["field"] == "reason"


def test_a_seizure_names_goods_and_keeps_decimal_weights():
    ev = parse_event(json.dumps(_example("seizure.recorded")))
    assert isinstance(ev, SeizureRecorded)
    assert str(ev.goods[0].weight_kg) == "489.5"
    with pytest.raises(InvalidEventError) as err:
        parse_event(json.dumps({**_example("seizure.recorded"), "goods": []}))
    assert err.value.problems[0]["field"] == "goods"


def test_every_event_schema_requires_event_type():
    """On the wire event_type selects the type: a schema that let it out would accept
    events the parser refuses."""
    from schemas.jsonschema import schema_documents

    for name, document in schema_documents().items():
        if name == "alert.schema.json":
            continue
        parts = [document, *document.get("$defs", {}).values()]
        typed = [p for p in parts if "event_type" in p.get("properties", {})]
        assert typed, name
        for part in typed:
            assert "event_type" in part["required"], name
