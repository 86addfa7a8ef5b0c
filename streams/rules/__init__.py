"""Detection rules. Each looks at a shipment's whole state (active events only) and returns
a Finding or None, so the result does not depend on the order the events arrived in.
Thresholds: streams/detection.toml."""

from schemas import Rule
from streams.config import DetectionConfig
from streams.rules.base import Finding, RuleFn, View
from streams.rules.movement import impossible_travel, weight_change
from streams.rules.routes import circular_routing, entry_without_border_passage, route_deviation
from streams.rules.timing import open_leg_deadline, unexplained_stop

RULES: dict[Rule, RuleFn] = {
    Rule.ROUTE_DEVIATION: route_deviation,
    Rule.ENTRY_WITHOUT_BORDER_PASSAGE: entry_without_border_passage,
    Rule.IMPOSSIBLE_TRAVEL: impossible_travel,
    Rule.WEIGHT_CHANGE: weight_change,
    Rule.CIRCULAR_ROUTING: circular_routing,
    Rule.UNEXPLAINED_STOP: unexplained_stop,
}

__all__ = ["RULES", "DetectionConfig", "Finding", "RuleFn", "View", "open_leg_deadline"]
