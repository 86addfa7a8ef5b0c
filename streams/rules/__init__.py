"""Detection rules. Each looks at a shipment's whole state (active events only) and returns
a Finding or None, so the result does not depend on the order the events arrived in.
Thresholds: streams/detection.toml."""

from schemas import Rule
from streams.config import DetectionConfig
from streams.rules.base import Finding, RuleFn, View
from streams.rules.links import high_risk_corridor, linked_to_offender
from streams.rules.movement import impossible_travel, weight_change
from streams.rules.routes import circular_routing, entry_without_border_passage, route_deviation
from streams.rules.timing import open_leg_deadline, unexplained_stop
from streams.rules.vehicle import seal_tampering, vehicle_swap

RULES: dict[Rule, RuleFn] = {
    Rule.ROUTE_DEVIATION: route_deviation,
    Rule.ENTRY_WITHOUT_BORDER_PASSAGE: entry_without_border_passage,
    Rule.IMPOSSIBLE_TRAVEL: impossible_travel,
    Rule.WEIGHT_CHANGE: weight_change,
    Rule.CIRCULAR_ROUTING: circular_routing,
    Rule.UNEXPLAINED_STOP: unexplained_stop,
    Rule.VEHICLE_SWAP: vehicle_swap,
    Rule.SEAL_TAMPERING: seal_tampering,
    Rule.LINKED_TO_OFFENDER: linked_to_offender,
    Rule.HIGH_RISK_CORRIDOR: high_risk_corridor,
}

# Rules that read other shipments' facts: judged only once the global low watermark has
# passed the shipment's declaration (streams/context.py).
CONTEXT_RULES = frozenset({Rule.LINKED_TO_OFFENDER, Rule.HIGH_RISK_CORRIDOR})

__all__ = [
    "CONTEXT_RULES",
    "RULES",
    "DetectionConfig",
    "Finding",
    "RuleFn",
    "View",
    "open_leg_deadline",
]
