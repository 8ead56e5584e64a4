"""Report stage: a self-contained offline HTML report of a run."""

from glacierinv.report.html import write_report

__all__ = ["write_report"]
