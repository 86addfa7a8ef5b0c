"""JSON Schema of the contract, for integrators: one document for any event (a union
discriminated by ``event_type``), one per event type, one for stream heartbeats, and one
for alerts. The checked-in
copies in docs/schema are compared with these by a test, so a contract change is always a
deliberate, reviewed change of those files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.alerts import Alert
from schemas.events import EVENT_ADAPTER, EVENT_CLASSES, SCHEMA_VERSION
from schemas.heartbeat import HEARTBEAT_TYPE, StreamHeartbeat


def _event_type_required(schema: dict[str, Any]) -> dict[str, Any]:
    """``event_type`` required wherever a schema has it: the models give it a default (one
    Python class per type), but on the wire it selects the type, and an event without it
    is refused (parse_event). Applied to the document and to its definitions."""
    for part in [schema, *schema.get("$defs", {}).values()]:
        if "event_type" in part.get("properties", {}):
            required = part.setdefault("required", [])
            if "event_type" not in required:
                required.insert(0, "event_type")
    return schema


def _document(schema: dict[str, Any], title: str, schema_id: str) -> dict[str, Any]:
    schema = _event_type_required(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        **schema,
        "title": title,
    }


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document."""
    docs = {
        f"event-v{SCHEMA_VERSION}.schema.json": _document(
            EVENT_ADAPTER.json_schema(),
            f"goodsflow checkpoint event, contract v{SCHEMA_VERSION}",
            f"goodsflow:event-v{SCHEMA_VERSION}",
        ),
        "alert.schema.json": _document(
            TypeAdapter(Alert).json_schema(), "goodsflow alert", "goodsflow:alert"
        ),
    }
    docs[f"{HEARTBEAT_TYPE}.v{SCHEMA_VERSION}.schema.json"] = _document(
        StreamHeartbeat.model_json_schema(),
        f"goodsflow {HEARTBEAT_TYPE} (contract v{SCHEMA_VERSION})",
        f"goodsflow:{HEARTBEAT_TYPE}:v{SCHEMA_VERSION}",
    )
    for cls in EVENT_CLASSES:
        event_type = cls.model_fields["event_type"].default
        docs[f"{event_type}.v{SCHEMA_VERSION}.schema.json"] = _document(
            cls.model_json_schema(),
            f"goodsflow {event_type} (contract v{SCHEMA_VERSION})",
            f"goodsflow:{event_type}:v{SCHEMA_VERSION}",
        )
    return docs


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_schemas(out: Path) -> list[Path]:
    """Write every schema document into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in schema_documents().items():
        path = out / name
        path.write_text(render(document), encoding="utf-8")
        paths.append(path)
    return paths
