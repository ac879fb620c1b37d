"""Names of the figures an assessment carries and a threshold tests: amounts, counts and flags.

The contract's `case.assessed` event names the amounts and the counts of `schemas.events`.
The thresholds of the law file also need figures the contract does not name yet; the hub
reads them from the event's extension fields (extra fields are allowed on the wire) under
the names in EXTENSION_COUNTS / EXTENSION_FLAGS until the contract adds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from schemas.events import AMOUNT_FIELDS, COUNT_FIELDS

AMOUNTS: tuple[str, ...] = AMOUNT_FIELDS

# Counts that do not add up across cases: "two or more marks" is about one business.
NON_ADDITIVE_COUNTS: frozenset[str] = frozenset({"marks_count", "patents_count"})

EXTENSION_COUNTS: tuple[str, ...] = (
    "works_count",  # online copyright: works disseminated (作品数)
    "click_count",  # online copyright: clicks (点击数)
    "member_count",  # online copyright: registered members (会员数)
    "unsold_labels_count",  # illegal marks: labels not yet sold (未销售标识数)
    "patents_count",  # patent counterfeiting: patents counterfeited (专利数)
)
COUNTS: tuple[str, ...] = COUNT_FIELDS + EXTENSION_COUNTS

EXTENSION_FLAGS: tuple[str, ...] = (
    "reasonable_suspicion",  # IP cases: 合理嫌疑, SC Art 3 ¶2
    "rightholder_bankrupt",  # trade secrets: the right holder went bankrupt, I-2020 Art 4
)
FLAGS: tuple[str, ...] = EXTENSION_FLAGS

LABELS: Mapping[str, tuple[str, str]] = {
    "illegal_business_amount": ("非法经营数额", "illegal business amount"),
    "illegal_gains": ("违法所得数额", "illegal gains"),
    "sales_amount": ("销售金额", "sales amount"),
    "unsold_goods_value": ("尚未销售货值金额", "value of unsold goods"),
    "rightholder_loss": ("权利人损失", "right holder's loss"),
    "production_loss": ("生产损失", "loss to production"),
    "copies": ("复制品数量", "copies"),
    "marks_count": ("注册商标种数", "registered marks"),
    "labels_count": ("标识数量", "labels"),
    "works_count": ("作品数量", "works"),
    "click_count": ("点击数", "clicks"),
    "member_count": ("注册会员数", "members"),
    "unsold_labels_count": ("尚未销售标识数量", "unsold labels"),
    "patents_count": ("专利件数", "patents"),
    "reasonable_suspicion": ("存在犯罪合理嫌疑", "reasonable suspicion of a crime"),
    "rightholder_bankrupt": ("权利人破产", "right holder went bankrupt"),
}


def kind_of(name: str) -> str | None:
    """The figure's kind: "amount", "count", "flag", or None for an unknown name."""
    if name in AMOUNTS:
        return "amount"
    if name in COUNTS:
        return "count"
    if name in FLAGS:
        return "flag"
    return None


@lru_cache(maxsize=512)
def label(name: str) -> tuple[str, str]:
    """(zh, en) label of a figure or of a sum of figures ("a+b"); memoised (names come from
    the rule file and the catalogue; every threshold text labels its figures)."""
    parts = [LABELS.get(part, (part, part)) for part in name.split("+")]
    return "与".join(zh for zh, _ in parts), " plus ".join(en for _, en in parts)
