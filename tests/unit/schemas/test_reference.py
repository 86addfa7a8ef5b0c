import pytest

from schemas import CheckpointKind, UnknownReferenceError, load_registry

ALLIANCE = {"HN", "HP", "BN", "CB", "HY", "LC", "LS", "NB", "PT", "QN", "TN"}


def test_registry_has_the_eleven_alliance_localities_with_diacritics():
    reg = load_registry()
    assert set(reg.localities) == ALLIANCE
    assert reg.locality("LS").name == "Lạng Sơn"
    assert reg.locality("LS").name_ascii == "Lang Son"


def test_every_checkpoint_lies_in_a_known_locality_and_border_provinces_have_gates():
    reg = load_registry()
    gates = {
        cp.locality for cp in reg.checkpoints.values() if cp.kind == CheckpointKind.BORDER_GATE
    }
    assert {"LS", "CB", "LC", "QN"} <= gates
    assert reg.checkpoint("HN-NOIBAI").kind == CheckpointKind.AIRPORT


def test_road_distance_is_symmetric_and_scaled_by_the_road_factor():
    reg = load_registry()
    d = reg.road_distance_km("LS-HUUNGHI", "HN-DONGXUAN")
    assert d == pytest.approx(reg.road_distance_km("HN-DONGXUAN", "LS-HUUNGHI"))
    # Huu Nghi to Hanoi: about 136 km as the crow flies, about 170 km by QL1A.
    assert 125 * reg.road_factor < d < 145 * reg.road_factor
    assert reg.road_distance_km("BN-TUSON", "BN-TUSON") == 0


def test_unknown_ids_raise_a_clear_error():
    with pytest.raises(UnknownReferenceError, match="XX"):
        load_registry().checkpoint("XX")
