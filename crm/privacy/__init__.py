"""Accountability and data subject requests: who looked at whom, a person's data, erasure."""
