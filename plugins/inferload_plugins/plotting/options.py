"""``inferload profile --report`` (declared by the plot command, read by its exporter and by a sweep)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReportOptions(BaseModel):
    """``inferload profile --report``."""

    report: bool = Field(False, description="also write report.html (self-contained, opens offline) and "
                         "plots/*.png")
