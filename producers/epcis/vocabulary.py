"""CBV vocabulary: bizStep, disposition and error reasons may come as a bare word
(``shipping``), a CBV 1.x URN (``urn:epcglobal:cbv:bizstep:shipping``) or a CBV 2.0 URL
(``https://ref.gs1.org/cbv/BizStep-shipping``). Anything else is a custom URI."""

from __future__ import annotations

_PREFIXES = {
    "bizstep": ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    "disp": ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    "er": ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
    "btt": ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
}


def cbv_word(value: object, kind: str) -> str | None:
    """The bare CBV word of ``value``, or None when it is a custom (non-CBV) URI."""
    if not isinstance(value, str) or not value:
        return None
    for prefix in _PREFIXES[kind]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    if ":" in value or "/" in value:
        return None  # a custom URI
    return value


# bizStep -> direction of a checkpoint.scanned
SCAN_STEPS = {
    "shipping": "outbound",
    "departing": "outbound",
    "loading": "outbound",
    "arriving": "inbound",
    "receiving": "inbound",
    "accepting": "inbound",
    "unloading": "inbound",
    "transporting": "passing",
}
INSPECTING = "inspecting"
TRANSFER_STEPS = ("loading", "packing", "unpacking", "repacking", "transferring", "shipping")

# disposition of an inspecting event -> (outcome, finding kind)
INSPECTION_DISPOSITIONS = {
    None: ("cleared", None),
    "conformant": ("cleared", None),
    "active": ("cleared", None),
    "in_transit": ("cleared", None),
    "non_conformant": ("discrepancy", "other"),
    "damaged": ("discrepancy", "other"),
    "expired": ("discrepancy", "unsafe_or_expired"),
    "mismatch_class": ("discrepancy", "misdeclared_goods"),
    "mismatch_quantity": ("discrepancy", "misdeclared_goods"),
    "mismatch_instance": ("discrepancy", "misdeclared_goods"),
    "recalled": ("discrepancy", "unsafe_or_expired"),
    "destroyed": ("seized", "other"),
}

ERROR_REASONS = {"incorrect_data": "incorrect_data", "did_not_occur": "did_not_occur"}

# bizTransaction types that name a shipment, in order of preference
SHIPMENT_TRANSACTIONS = ("bol", "desadv")

MASS_TYPES = ("gs1:Mass", "Mass", "https://gs1.org/voc/Mass", "cbvmda:Mass")
KG_PER_UOM = {"KGM": 1.0, "TNE": 1000.0, "GRM": 0.001, "LBR": 0.45359237}
