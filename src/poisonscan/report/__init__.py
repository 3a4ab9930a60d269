"""Scan outputs: the JSON report, the flagged-sample CSV, the saved model."""

from .files import build_report, flagged_csv, versions, write_scan
from .summary import format_summary

__all__ = ["build_report", "flagged_csv", "format_summary", "versions", "write_scan"]
