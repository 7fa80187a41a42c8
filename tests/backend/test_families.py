"""The layer families' import rules chain: where two families have a rule for one
key, the later one is handed the earlier one and none is silently lost."""

from __future__ import annotations

import pytest

from layerloom.backend.importers import families

TABLES = ("FUNCTIONS", "METHODS", "MODULES", "ONNX")


def _shared_keys():
    owners: dict = {}
    for family in families.FAMILIES:
        for table in TABLES:
            for key in getattr(family, table, {}):
                owners.setdefault((table, key), []).append(family)
    return [(table, key, found) for (table, key), found in owners.items() if len(found) > 1]


@pytest.mark.parametrize(("table", "key", "owners"), _shared_keys(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_rule_that_replaces_another_family_s_is_handed_it(table, key, owners):
    for earlier, later in zip(owners, owners[1:], strict=False):
        rule, replaced = getattr(later, table)[key], getattr(earlier, table)[key]
        assert hasattr(rule, "previous"), (
            f"{later.__name__} replaces {earlier.__name__}'s {table} rule for {key!r} "
            "without passing it the cases it does not handle")
        assert rule.previous is replaced


def test_families_share_some_keys():  # the chain above is exercised
    assert len(_shared_keys()) >= 3
