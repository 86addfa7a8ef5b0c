"""`goodsflow reference ...` and `goodsflow schema export` as a user runs them."""

import json
from pathlib import Path

from tests.e2e.cli import goodsflow

DOCS = Path(__file__).parents[2] / "docs" / "schema"


def test_reference_lists_localities_and_checkpoints_with_diacritics():
    localities = json.loads(goodsflow("reference", "localities", "--json").stdout)
    assert len(localities) == 11
    assert {"code": "CB", "name": "Cao Bằng", "name_ascii": "Cao Bang"}.items() <= next(
        loc for loc in localities if loc["code"] == "CB"
    ).items()
    table = goodsflow("reference", "checkpoints", "--locality", "qn")
    assert (
        table.returncode == 0 and "QN-MONGCAI" in table.stdout and "LS-HUUNGHI" not in table.stdout
    )
    unknown = goodsflow("reference", "checkpoints", "--locality", "XX")
    assert unknown.returncode == 1 and "unknown locality code 'XX'" in unknown.stderr


def test_schema_export_writes_what_is_checked_in(tmp_path):
    result = goodsflow("schema", "export", "--out", str(tmp_path))
    assert result.returncode == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in DOCS.iterdir())
    for name in written:
        assert (tmp_path / name).read_text("utf-8") == (DOCS / name).read_text("utf-8")
