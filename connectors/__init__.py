"""Connectors: agency-side adapters that turn agencies' own records into signed hub events."""
