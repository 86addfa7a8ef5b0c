"""Detection thresholds, from one documented file: ``streams/detection.toml``.

The file is the only source of the numbers (these models have no defaults), so what the
documentation says is what runs. Another file can replace it (``load_detection_config``,
or GOODSFLOW_DETECTION__CONFIG for the worker and the evaluation).
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas import GoodsflowError, load_registry


class DetectionConfigError(GoodsflowError):
    """The detection configuration file is missing, not TOML, or has a bad value."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeverityConfig(_Section):
    health_goods_bonus: int = Field(ge=0, le=100)


class RouteDeviationConfig(_Section):
    tolerance_km: float = Field(ge=0)
    base: int = Field(ge=0, le=100)
    per_extra_deviation: int = Field(ge=0, le=100)
    undeclared_locality: int = Field(ge=0, le=100)


class EntryWithoutBorderConfig(_Section):
    base: int = Field(ge=0, le=100)


class ImpossibleTravelConfig(_Section):
    max_speed_kmh: float = Field(gt=0)
    min_distance_km: float = Field(ge=0)
    base: int = Field(ge=0, le=100)
    cloned_documents_km: float = Field(gt=0)
    simultaneous_minutes: float = Field(ge=0)
    cloned_documents_bonus: int = Field(ge=0, le=100)


class WeightChangeConfig(_Section):
    tolerance: float = Field(gt=0, lt=1)
    base: int = Field(ge=0, le=100)
    large_change: float = Field(gt=0)
    large_change_bonus: int = Field(ge=0, le=100)


class CircularRoutingConfig(_Section):
    base: int = Field(ge=0, le=100)


class EventTimeConfig(_Section):
    allowed_lateness_minutes: float = Field(ge=0)
    future_horizon_hours: float = Field(gt=0)
    min_year: int = Field(ge=1, le=9999)
    max_year: int = Field(ge=1, le=9999)


class RetentionConfig(_Section):
    state_days: float = Field(gt=0)
    context_days: float = Field(gt=0)


class PeakSeason(_Section):
    """Weeks when the border gates queue for longer (the weeks before Tết)."""

    name: str
    start: date  # first day, Vietnam time
    end: date  # last day, Vietnam time
    extra_queue_hours: float = Field(ge=0)


class UnexplainedStopConfig(_Section):
    min_speed_kmh: float = Field(gt=0)
    slack_hours: float = Field(ge=0)
    max_continuous_driving_hours: float = Field(gt=0)
    break_hours: float = Field(ge=0)
    daily_driving_hours: float = Field(gt=0)
    night_start_hour: int = Field(ge=0, le=23)
    night_end_hour: int = Field(ge=0, le=23)
    overnight_rest_hours: float = Field(ge=0)
    rest_area_hours: float = Field(ge=0)
    clearance_hours: float = Field(ge=0)
    gate_queue_hours: dict[str, float] = Field(default_factory=dict)
    peak_seasons: list[PeakSeason] = Field(default_factory=list)
    base: int = Field(ge=0, le=100)
    per_excess_hour: float = Field(ge=0)
    max_excess: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _gates_known(self) -> UnexplainedStopConfig:
        registry = load_registry()
        for checkpoint_id, hours in self.gate_queue_hours.items():
            if not registry.checkpoints.get(checkpoint_id):
                raise ValueError(f"gate_queue_hours: unknown checkpoint {checkpoint_id}")
            if not registry.checkpoint(checkpoint_id).kind.is_entry_point:
                raise ValueError(
                    f"gate_queue_hours: {checkpoint_id} is no border gate, port or airport"
                )
            if hours < 0:
                raise ValueError(f"gate_queue_hours: {checkpoint_id}: negative hours")
        for season in self.peak_seasons:
            if season.end < season.start:
                raise ValueError(f"peak_seasons: {season.name} ends before it starts")
        return self


class VehicleSwapConfig(_Section):
    misread_edits: int = Field(ge=0, le=3)
    base: int = Field(ge=0, le=100)
    look_alike: int = Field(ge=0, le=100)


class SealTamperingConfig(_Section):
    base: int = Field(ge=0, le=100)
    absent_bonus: int = Field(ge=0, le=100)


class LinkedToOffenderConfig(_Section):
    direct: int = Field(ge=0, le=100)
    one_hop: int = Field(ge=0, le=100)
    per_extra_link: int = Field(ge=0, le=100)
    max_links: int = Field(ge=1)


class QueueConfig(_Section):
    capacity_per_day: int = Field(ge=0)
    random_share: float = Field(ge=0, le=1)
    corridor_boost: float = Field(ge=0, le=1)
    corridor_alone: float = Field(ge=0, le=1)


class HighRiskCorridorConfig(_Section):
    window_days: float = Field(gt=0)
    base: int = Field(ge=0, le=100)
    per_extra_seizure: int = Field(ge=0, le=100)
    max_seizures: int = Field(ge=1)


class DetectionConfig(_Section):
    """All rule thresholds (see streams/detection.toml for what each one means)."""

    severity: SeverityConfig
    route_deviation: RouteDeviationConfig
    entry_without_border_passage: EntryWithoutBorderConfig
    impossible_travel: ImpossibleTravelConfig
    weight_change: WeightChangeConfig
    circular_routing: CircularRoutingConfig
    event_time: EventTimeConfig
    retention: RetentionConfig
    unexplained_stop: UnexplainedStopConfig
    vehicle_swap: VehicleSwapConfig
    seal_tampering: SealTamperingConfig
    linked_to_offender: LinkedToOffenderConfig
    high_risk_corridor: HighRiskCorridorConfig
    queue: QueueConfig


def _read(text: str, where: str) -> DetectionConfig:
    try:
        return DetectionConfig.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise DetectionConfigError(f"{where} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise DetectionConfigError(f"{where}: {problems}") from None


@cache
def _shipped() -> DetectionConfig:
    text = resources.files("streams").joinpath("detection.toml").read_text(encoding="utf-8")
    return _read(text, "streams/detection.toml")


def load_detection_config(path: Path | None = None) -> DetectionConfig:
    """The shipped thresholds, or those of ``path``."""
    if path is None:
        return _shipped()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DetectionConfigError(f"cannot read {path}: {exc.strerror}") from None
    return _read(text, str(path))
