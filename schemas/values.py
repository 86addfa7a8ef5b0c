"""Value types shared by the events of contract v1: identifiers, parties, goods, and the
fixed vocabularies (goods categories, directions, outcomes, reasons)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.errors import UnknownReferenceError
from schemas.reference import load_registry

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


def _known_checkpoint(checkpoint_id: str) -> str:
    try:
        load_registry().checkpoint(checkpoint_id)
    except UnknownReferenceError as exc:
        raise ValueError(str(exc)) from None
    return checkpoint_id


def _known_locality(code: str) -> str:
    try:
        load_registry().locality(code)
    except UnknownReferenceError as exc:
        raise ValueError(str(exc)) from None
    return code


CheckpointId = Annotated[str, AfterValidator(_known_checkpoint)]
LocalityCode = Annotated[str, AfterValidator(_known_locality)]
HsCode = Annotated[str, Field(pattern=r"^\d{4,10}$", description="HS code, 4 to 10 digits")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Plate = Annotated[str, Field(min_length=1, max_length=20)]

_PLATE_SEPARATORS = str.maketrans("", "", " -._/\t")


@lru_cache(maxsize=65_536)
def plate_key(plate: str) -> str:
    """A plate as detection compares it: upper case, without spaces, dashes, dots,
    underscores or slashes (``29C-123.45``, ``29c 12345`` and ``29C12345`` are one plate).
    The plate as written is what events, alerts and the graph keep."""
    return plate.translate(_PLATE_SEPARATORS).upper()


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance between ``a`` and ``b`` (a substitution, an insertion or a
    deletion each count one), or ``limit + 1`` when it is over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


class GoodsCategory(StrEnum):
    """Fixed list of goods categories. The first four endanger health and come first."""

    FOOD = "food"
    MEDICINE = "medicine"
    COSMETICS = "cosmetics"
    DIETARY_SUPPLEMENTS = "dietary_supplements"
    CLOTHING = "clothing"
    ELECTRONICS = "electronics"
    TOBACCO = "tobacco"
    ALCOHOL = "alcohol"
    MEAT_AND_LIVESTOCK = "meat_and_livestock"
    OTHER = "other"

    @property
    def endangers_health(self) -> bool:
        return self in HEALTH_CATEGORIES


HEALTH_CATEGORIES = frozenset(
    {
        GoodsCategory.FOOD,
        GoodsCategory.MEDICINE,
        GoodsCategory.COSMETICS,
        GoodsCategory.DIETARY_SUPPLEMENTS,
    }
)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Party(_Value):
    """A company or person: shipper, consignee or someone implicated."""

    party_id: Identifier
    name: str = Field(min_length=1, max_length=300)
    tax_code: str | None = Field(default=None, max_length=20)


class GoodsLine(_Value):
    """One line of a declaration."""

    hs_code: HsCode
    description: str = Field(min_length=1, max_length=500)
    category: GoodsCategory
    quantity: Decimal = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    weight_kg: Decimal = Field(gt=0)
    value_vnd: Decimal = Field(ge=0)


class GoodsQuantity(_Value):
    """Goods counted at a seizure or moved in a transfer."""

    hs_code: HsCode | None = None
    description: str = Field(default="", max_length=500)
    category: GoodsCategory
    quantity: Decimal = Field(gt=0)
    unit: str = Field(min_length=1, max_length=16)
    weight_kg: Decimal | None = Field(default=None, gt=0)


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    PASSING = "passing"


class SealStatus(StrEnum):
    INTACT = "intact"
    BROKEN = "broken"
    ABSENT = "absent"
    NOT_CHECKED = "not_checked"


class InspectionOutcome(StrEnum):
    CLEARED = "cleared"
    DISCREPANCY = "discrepancy"
    SEIZED = "seized"


class FindingKind(StrEnum):
    WEIGHT_MISMATCH = "weight_mismatch"
    UNDECLARED_GOODS = "undeclared_goods"
    MISDECLARED_GOODS = "misdeclared_goods"
    COUNTERFEIT = "counterfeit"
    UNSAFE_OR_EXPIRED = "unsafe_or_expired"
    DOCUMENT_MISMATCH = "document_mismatch"
    SEAL_TAMPERED = "seal_tampered"
    OTHER = "other"


class InspectionFinding(_Value):
    kind: FindingKind
    description: str = Field(min_length=1, max_length=1000)
    hs_code: HsCode | None = None


class SeizureReason(StrEnum):
    SMUGGLING = "smuggling"
    COUNTERFEIT = "counterfeit"
    UNDECLARED = "undeclared"
    MISDECLARED = "misdeclared"
    BANNED_GOODS = "banned_goods"
    UNSAFE_GOODS = "unsafe_goods"
    OTHER = "other"


class CorrectionReason(StrEnum):
    """Why an earlier event is corrected (EPCIS error declaration reasons)."""

    INCORRECT_DATA = "incorrect_data"
    DID_NOT_OCCUR = "did_not_occur"
