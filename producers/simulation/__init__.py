"""The checkpoint traffic simulator (`goodsflow simulate`)."""

from producers.simulation.generator import SimulationConfig, Simulator, TruthRecord
from producers.simulation.scenarios import ALL_SCENARIOS, SCENARIO_RULES

__all__ = ["ALL_SCENARIOS", "SCENARIO_RULES", "SimulationConfig", "Simulator", "TruthRecord"]
