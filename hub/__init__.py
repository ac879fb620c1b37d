"""The hub: verifies signed agency events, sequences them into the ledger, receipts them."""
