"""The policy of every rule id (streams.rules.rules_config.RULE_CATALOGUE names the same ids),
and the facts of a case without which each policy finds nothing (`INPUTS`)."""

from __future__ import annotations

from collections.abc import Mapping

from streams.rules import _policies as forward
from streams.rules import _reverse as reverse
from streams.rules import _screening as screening
from streams.rules._policies import CaseView, Policy

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

INPUTS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "SHOULD_TRANSFER": (("offence",), ("assessments",)),  # a run of grounds walks assessments
    "PENALTY_INSTEAD_OF_TRANSFER": (("penalties",), ("offence",), ("assessments",)),
    "TRANSFER_DECISION_LATE": (("transfer_decisions",),),
    "HANDOVER_LATE": (("transfer_decisions",),),
    "DOCUMENTS_MISSING": (("transfers",),),
    "NOT_ACCEPTED": (("transfers", "forwards"),),
    "FORWARD_LATE": (("forwards",),),
    "FILING_OVERDUE": (("acceptances",),),
    "NON_FILING_NOT_RECONSIDERED": (("filing_decisions",), ("offence",)),
    "RECONSIDERATION_OVERDUE": (("reconsideration_requests",),),
    "SUPERVISION_NOT_REQUESTED": (("reconsideration_decisions",), ("offence",)),
    "NON_FILING_NOT_EXPLAINED": (("supervisions",),),
    "ORDERED_FILING_OVERDUE": (("supervisions",),),
    "SEIZED_GOODS_NOT_HANDED_OVER": (("filing_decisions",), ("transfers",)),
    "SPLIT_CASES": (("related",), ("offence",), ("assessments",)),
    "OPINION_NOT_ANSWERED": (("opinions",),),
    "OPINION_NO_PENALTY_UNREASONED": (("opinion_replies",),),
    "PENALTY_AFTER_NON_FILING": (("filing_decisions",),),
    "COMPLAINT_NOT_DECIDED": (("clues",),),
    "REPORTER_NOT_TOLD": (("clues",), ("openings",)),
    "NEAR_THRESHOLD_PENALTY": (("penalties",), ("offence",)),
    "REPEAT_PARTY": (("related",), ("offence",), ("openings",)),
    "MULTI_AGENCY_PENALTIES": (("related",), ("offence",), ("penalties",)),
}
"""What each policy reads before it can find anything, read off its code: every group must
hold at least one non-empty fact, a field of the case state or `related` (the other cases
sharing a party). A policy whose inputs are absent yields no obligation, so the engine does
not call it (issue 14: a case of a few step kinds paid for all 23 policies on every event).
tests/unit/test_rules_inputs.py checks, over generated cases, that skipping them changes no
decision and no next deadline."""


FACTS: tuple[str, ...] = tuple(sorted({name for needs in INPUTS.values() for group in needs
                                         for name in group}))
"""Every fact some policy's inputs name."""


_CASE_FACTS: tuple[str, ...] = tuple(name for name in FACTS if name != "related")


def present_facts(view: CaseView) -> frozenset[str]:
    """The facts (of `FACTS`) the view has: non-empty fields of its case, `related`.

    Read from the case's `__dict__` (where a pydantic model keeps its fields), in a list
    comprehension, not `getattr` in a generator (issue 14, session 8: ~1.5 µs a case)."""
    fields = view.case.__dict__
    present = [name for name in _CASE_FACTS if fields[name]]
    if view.related:
        present.append("related")
    return frozenset(present)


def has_inputs(present: frozenset[str], needs: tuple[tuple[str, ...], ...]) -> bool:
    """True when every group of `needs` names at least one of the `present` facts."""
    return all(not present.isdisjoint(group) for group in needs)
