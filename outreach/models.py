"""Consultations, follow-ups and reports: filled in by their own issues."""
