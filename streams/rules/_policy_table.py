"""The policy of every rule id (streams.rules.rules_config.RULE_CATALOGUE names the same ids)."""

from __future__ import annotations

from collections.abc import Mapping

from streams.rules import _policies as forward
from streams.rules import _reverse as reverse
from streams.rules import _screening as screening
from streams.rules._policies import Policy

POLICIES: Mapping[str, Policy] = {
    "SHOULD_TRANSFER": forward.should_transfer,
    "PENALTY_INSTEAD_OF_TRANSFER": forward.penalty_instead_of_transfer,
    "TRANSFER_DECISION_LATE": forward.transfer_decision_late,
    "HANDOVER_LATE": forward.handover_late,
    "DOCUMENTS_MISSING": forward.documents_missing,
    "NOT_ACCEPTED": forward.not_accepted,
    "FORWARD_LATE": forward.forward_late,
    "FILING_OVERDUE": forward.filing_overdue,
    "NON_FILING_NOT_RECONSIDERED": forward.non_filing_not_reconsidered,
    "RECONSIDERATION_OVERDUE": forward.reconsideration_overdue,
    "SUPERVISION_NOT_REQUESTED": forward.supervision_not_requested,
    "NON_FILING_NOT_EXPLAINED": forward.non_filing_not_explained,
    "ORDERED_FILING_OVERDUE": forward.ordered_filing_overdue,
    "SEIZED_GOODS_NOT_HANDED_OVER": forward.seized_goods_not_handed_over,
    "SPLIT_CASES": screening.split_cases,
    "OPINION_NOT_ANSWERED": reverse.opinion_not_answered,
    "OPINION_NO_PENALTY_UNREASONED": reverse.opinion_no_penalty_unreasoned,
    "PENALTY_AFTER_NON_FILING": reverse.penalty_after_non_filing,
    "COMPLAINT_NOT_DECIDED": reverse.complaint_not_decided,
    "REPORTER_NOT_TOLD": reverse.reporter_not_told,
    "NEAR_THRESHOLD_PENALTY": screening.near_threshold_penalty,
    "REPEAT_PARTY": screening.repeat_party,
    "MULTI_AGENCY_PENALTIES": screening.multi_agency_penalties,
}
