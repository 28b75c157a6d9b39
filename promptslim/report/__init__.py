"""Report renderers: pure functions from typed results (promptslim/results/) to markdown, CSV, HTML and files.

Every module here is loaded with the package, so each lever's report partial (report/sections.py) is registered.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from .ablation import headline, render_html, render_markdown, units_frame, write_ablation_reports
from .index import render_index_html, render_index_markdown, total_line, write_index, write_index_result

for _module in _pkgutil.iter_modules(__path__):  # the levers' partials register themselves
    _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "headline", "render_html", "render_markdown", "units_frame", "write_ablation_reports",
    "render_index_html", "render_index_markdown", "total_line", "write_index", "write_index_result",
]
