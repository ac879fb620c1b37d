"""Backfill from the 双公示 administrative-penalty export: read the CSV (records, cells,
columns, reader), report bad rows to the clerk (report), and map records to hub events
(mapping). Modules are imported by name; this package re-exports nothing.
"""
