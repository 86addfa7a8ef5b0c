"""Stream processing: the pure detection engine and the Faust app around it.

Importing this package does not import Faust; the Faust app lives in ``streams.app`` and
the agents in ``streams.agents``.
"""

from streams.config import DetectionConfig, load_detection_config
from streams.engine import Outcome, advance, process
from streams.rules import Finding
from streams.state import ShipmentState

__all__ = [
    "DetectionConfig",
    "Finding",
    "Outcome",
    "ShipmentState",
    "advance",
    "load_detection_config",
    "process",
]
