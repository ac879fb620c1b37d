"""The web workbench (contract section 7): FastAPI pages, JSON API and public endpoints."""
