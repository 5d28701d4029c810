"""Feedback export: stored votes as training data (raw, kto, pairs) in JSON Lines."""

from core.export.query import ExportFilter, count_rated
from core.export.writer import FORMATS, export

__all__ = ["FORMATS", "ExportFilter", "count_rated", "export"]
