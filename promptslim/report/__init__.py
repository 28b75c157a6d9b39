"""Report renderers: pure functions from typed results (promptslim/results.py) to markdown, CSV, HTML and files."""
from .ablation import headline, render_html, render_markdown, units_frame, write_ablation_reports
from .index import render_index_html, render_index_markdown, total_line, write_index, write_index_result

__all__ = [
    "headline", "render_html", "render_markdown", "units_frame", "write_ablation_reports",
    "render_index_html", "render_index_markdown", "total_line", "write_index", "write_index_result",
]
