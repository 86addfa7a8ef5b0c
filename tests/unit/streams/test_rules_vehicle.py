"""vehicle_swap and seal_tampering at their boundaries, and the plate comparison they use."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas import AlertStatus, Rule, load_registry
from schemas.values import edit_distance, plate_key
from streams import load_detection_config, process
from tests.factories import ROUTE, declaration, scan

REG = load_registry()
CONFIG = load_detection_config()
PLATE = "29C-123.45"


def alerts_of(events, rule):
    state, out = None, []
    for ev in events:
        outcome = process(state, ev, CONFIG, REG)
        state = outcome.state
        out += [a for a in outcome.alerts if a.rule == rule]
    return out


def _trip(plates=(), seals=()):
    decl = declaration(vehicle_plate=PLATE)
    events = [decl]
    for i, cp in enumerate(ROUTE):
        fields = {}
        if i < len(plates) and plates[i] is not None:
            fields["observed_plate"] = plates[i]
        if i < len(seals) and seals[i] is not None:
            fields["seal_status"] = seals[i]
        events.append(scan(decl.shipment_id, cp, 90 * (i + 1), **fields))
    return events


def test_plates_compare_without_case_spaces_dashes_or_dots():
    assert plate_key("29c 123.45") == plate_key("29C-12345") == "29C12345"
    same = _trip(plates=["29c 123.45", "29C12345", "29C-123.45"])
    assert alerts_of(same, Rule.VEHICLE_SWAP) == []


def test_another_plate_is_a_vehicle_swap():
    events = _trip(plates=[PLATE, PLATE, "51D-987.65", "51D-987.65"])
    alerts = alerts_of(events, Rule.VEHICLE_SWAP)
    latest = alerts[-1]
    assert [e.checkpoint_id for e in latest.evidence] == ROUTE[2:4]
    assert latest.evidence[0].detail == f"plate read 51D-987.65, declared {plate_key(PLATE)}"
    assert latest.severity_factors["other_vehicle"] == CONFIG.vehicle_swap.base
    assert "51D-987.65" in latest.explanation_en and "51D-987.65" in latest.explanation_vi


def test_one_character_off_once_is_a_misreading_and_raises_nothing():
    for misread in ("29C-123.46", "29C-1234", "29C-123.455", "28C-123.45"):
        assert alerts_of(_trip(plates=[PLATE, misread, PLATE]), Rule.VEHICLE_SWAP) == [], misread
    # two characters off is another vehicle
    assert alerts_of(_trip(plates=[PLATE, "29C-123.99"]), Rule.VEHICLE_SWAP)


def test_the_same_look_alike_plate_at_two_checkpoints_is_a_low_severity_swap():
    events = _trip(plates=[PLATE, "29C-123.46", "29C-123.46"])
    (alert,) = alerts_of(events, Rule.VEHICLE_SWAP)
    assert alert.severity_factors["look_alike_plate"] == CONFIG.vehicle_swap.look_alike
    assert "other_vehicle" not in alert.severity_factors
    assert alert.severity < CONFIG.vehicle_swap.base
    assert [e.checkpoint_id for e in alert.evidence] == ROUTE[1:3]


def test_no_plate_read_says_nothing():
    assert alerts_of(_trip(plates=[None, None, None]), Rule.VEHICLE_SWAP) == []


def test_a_seal_broken_after_an_intact_reading_is_tampering():
    events = _trip(seals=["intact", "not_checked", "broken"])
    (alert,) = alerts_of(events, Rule.SEAL_TAMPERING)
    assert [(e.checkpoint_id, e.detail) for e in alert.evidence] == [
        (ROUTE[0], "seal intact"),
        (ROUTE[2], f"seal broken, intact at {ROUTE[0]} before"),
    ]
    assert "seal_absent" not in alert.severity_factors
    (gone,) = alerts_of(_trip(seals=["intact", "absent"]), Rule.SEAL_TAMPERING)
    assert gone.severity_factors["seal_absent"] == CONFIG.seal_tampering.absent_bonus
    assert "absent" in gone.explanation_en and "mất" in gone.explanation_vi


def test_a_seal_never_read_intact_is_no_tampering():
    # broken from the first reading on: how it was loaded, not something on the way
    assert alerts_of(_trip(seals=["broken", "broken", "absent"]), Rule.SEAL_TAMPERING) == []
    assert alerts_of(_trip(seals=["not_checked", "broken"]), Rule.SEAL_TAMPERING) == []
    assert alerts_of(_trip(seals=["intact", "intact", "not_checked"]), Rule.SEAL_TAMPERING) == []


plates = st.text(alphabet="0123456789ABCDEFGHKLMNPSTUVXYZ", min_size=1, max_size=10)


@given(plates, plates)
def test_edit_distance_is_levenshtein_capped_at_the_limit(a, b):
    def full(x, y):  # the textbook recursion, memoised
        from functools import cache

        @cache
        def d(i, j):
            if i == 0 or j == 0:
                return i + j
            return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (x[i - 1] != y[j - 1]))

        return d(len(x), len(y))

    for limit in (0, 1, 2):
        assert edit_distance(a, b, limit) == min(full(a, b), limit + 1)
    assert edit_distance(a, b, 1) == edit_distance(b, a, 1)


def test_a_look_alike_plate_that_comes_and_goes_is_a_repeated_misreading():
    events = _trip(plates=[PLATE, "29C-123.46", "29C-123.46", PLATE, PLATE])
    raised, withdrawn = alerts_of(events, Rule.VEHICLE_SWAP)  # raised on the second reading
    assert raised.status == AlertStatus.OPEN and withdrawn.status == AlertStatus.WITHDRAWN
    assert withdrawn.alert_id == raised.alert_id
