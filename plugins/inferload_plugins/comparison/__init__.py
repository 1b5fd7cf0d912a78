"""The comparison behind `inferload compare`: reading runs (runs.py) and per-metric verdicts (verdict.py)."""
