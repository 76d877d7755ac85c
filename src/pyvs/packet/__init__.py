"""The reference data plane, sans-IO: frames in, verdicts out (see pipeline.py)."""
