"""Spreadsheet import: reading files (files.py) and matching headers to columns (headers.py)."""
