"""Wire formats of the hub's public contract: envelopes, events, receipts, alerts."""

from schemas.cloudevent import CloudEvent, event_type_name, source_agency
from schemas.dsse import Envelope, EnvelopeSignature, pae
from schemas.events import EVENT_TYPES, EventTypeSpec, Offence, Role
from schemas.money import Money, parse_money
from schemas.receipt import Receipt, ReceiptStatus

__all__ = [
    "EVENT_TYPES",
    "CloudEvent",
    "Envelope",
    "EnvelopeSignature",
    "EventTypeSpec",
    "Money",
    "Offence",
    "Receipt",
    "ReceiptStatus",
    "Role",
    "event_type_name",
    "pae",
    "parse_money",
    "source_agency",
]
