"""Variants by a metadata field (--group-by): the variants table once per value of the field, and the
paired contrasts within each value, corrected as one family across every group.

A group is the rows whose metadata field has one value (rows without the field: <unset>). In it each
variant's mean, SE and CI are the variants table's on that group's items only: the SE is clustered by
item (sd of the item means / sqrt(items)), so the seeds and repeats of one item count once. The
contrasts pair the items of the group that both variants ran, with a and b as in the overall contrasts,
so a delta's sign means the same in every group. Their p-values are corrected across all the groups'
contrasts: a family of its own, apart from the overall contrasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalsweep.report.compare import Comparison, item_means, not_paired_reason
from evalsweep.report.contrasts import bounded_by_variant, contrast_pairs, finish, pair_row
from evalsweep.report.labels import show_value
from evalsweep.report.variants import variant_table

UNSET = "<unset>"
LEAD = ("group_by", "group")


@dataclass(frozen=True)
class Grouping:
    field: str  # the metadata field, as the report names it
    column: str  # its column in the tidy frame: metadata.<field>


def _label(v: Any) -> str:
    return UNSET if v is None or (isinstance(v, float) and math.isnan(v)) else show_value(v)


def group_labels(df: pd.DataFrame, column: str) -> pd.Series:
    """Each row's group: the field's value as the report shows it, <unset> where the row has none."""
    return df[column].map(_label)


def _lead(table: pd.DataFrame, field: str, value: str) -> pd.DataFrame:
    table.insert(0, "group", value)
    table.insert(0, "group_by", field)
    return table


def group_variants(df: pd.DataFrame, grouping: Grouping, comp: Comparison) -> pd.DataFrame:
    """One row per group x variant (rank within the group), computed as the variants table is."""
    labels = group_labels(df, grouping.column)
    metric = comp.metric
    parts = [_lead(variant_table(df[labels == value], comp.alpha, metric.bounded, metric.primary), grouping.field,
                   value) for value in sorted(labels.unique())]
    return pd.concat(parts, ignore_index=True)


def group_contrasts(df: pd.DataFrame, grouping: Grouping, comp: Comparison, variants: pd.DataFrame) -> pd.DataFrame:
    """The comparison's contrast pairs within each group, corrected across every group's contrasts."""
    labels = group_labels(df, grouping.column)
    pairs = contrast_pairs(comp.order, comp.baseline.pairs if comp.baseline else None)
    settings = comp.settings
    rows: list[dict] = []
    for value in sorted(labels.unique()):
        g = df[labels == value]
        means = item_means(g)
        present = set(g["variant"])
        in_group = variants[variants["group"] == value]
        binary = dict(zip(in_group["variant"], in_group["binary"]))
        bounded = bounded_by_variant(means, settings)

        def reason(a: str, b: str, g: pd.DataFrame = g, present: set = present, value: str = value) -> str:
            absent = [v for v in (a, b) if v not in present]
            if absent:
                return f"not paired: {absent[0]} has no rows with {grouping.field}={value}"
            return not_paired_reason(g, a, b)

        for a, b in pairs:
            row = pair_row(means, a, b, binary, bounded, settings.alpha, reason)
            row.update(group_by=grouping.field, group=value)
            rows.append(row)
    return finish(rows, comp.baseline is not None, settings, LEAD)


def add_groups(comp: Comparison, df: pd.DataFrame, grouping: Grouping) -> None:
    """Fill the comparison's group tables from the metric's frame (the score column is the metric)."""
    comp.group_by = grouping.field
    comp.groups = group_variants(df, grouping, comp)
    comp.group_pairwise = group_contrasts(df, grouping, comp, comp.groups)
