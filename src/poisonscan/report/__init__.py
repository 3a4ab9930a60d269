"""Scan outputs: the JSON report, the flagged-sample CSV, the HTML report, the saved model."""

from .files import build_report, flagged_csv, versions, write_scan
from .html import render_html, write_html_report
from .summary import format_repair, format_summary
from .text import distinctive_terms

__all__ = ["build_report", "distinctive_terms", "flagged_csv", "format_repair", "format_summary",
           "render_html", "versions", "write_html_report", "write_scan"]
