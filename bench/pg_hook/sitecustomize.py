"""Loaded by Python at start-up in processes bench/ingress.py --pg-statements starts (this
directory first on PYTHONPATH): counts PostgreSQL CPU by statement (bench/pg_statements.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.pg_statements import install_from_env

install_from_env()
