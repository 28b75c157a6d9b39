"""Report renderers: pure functions from result dicts to markdown, CSV, HTML and files."""
from .ablation import headline, render_html, render_markdown, units_frame, write_ablation_reports
from .index import render_index_html, render_index_markdown, write_index

__all__ = [
    "headline", "render_html", "render_markdown", "units_frame", "write_ablation_reports",
    "render_index_html", "render_index_markdown", "write_index",
]
