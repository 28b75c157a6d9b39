"""Which files are prompts and where their eval sets and reports live: one place for the path rules.

A prompt is `prompts/<name>.j2` (a Jinja2 template) or `prompts/<name>.txt` / `.md` (plain text:
no template language, literal braces are text). Its name, the key for config, eval set and
reports, is the path under prompts/ without the suffix.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

PROMPTS = "prompts"
EVALSETS = "evalsets"
REPORTS = "reports"
JINJA_SUFFIX = ".j2"
PLAIN_SUFFIXES = (".txt", ".md")
PROMPT_SUFFIXES = (JINJA_SUFFIX, *PLAIN_SUFFIXES)
EVALSET_SUFFIXES = (".yaml", ".yml", ".jsonl")


def _path_part(rel: str) -> str:
    """check names git objects as "abc1234:prompts/x.j2"; the rules apply to the path after the colon."""
    return rel.rsplit(":", 1)[-1]


def is_prompt(path: str) -> bool:
    """A prompt file by its suffix; a README.md under prompts/ documents, it is no prompt."""
    name = PurePosixPath(_path_part(path)).name
    return name.endswith(PROMPT_SUFFIXES) and name.lower() != "readme.md"


def is_plain(rel: str) -> bool:
    """Plain text: rendered as written, with no variables."""
    return _path_part(rel).endswith(PLAIN_SUFFIXES)


def not_a_prompt(given: str) -> str:
    return (f"{given}: prompts are files under prompts/ ending in .j2 (Jinja2 template) "
            "or .txt / .md (plain text)")


def find_prompts(folder: Path) -> list[Path]:
    """Every prompt under a folder, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_prompt(p.name))


def prompt_of_evalset(path: str | None, root: Path) -> str | None:
    """evalsets/a/b.yaml -> the prompt it belongs to (prompts/a/b.j2, .txt or .md), the first that exists."""
    if not path or not path.startswith(f"{EVALSETS}/") or not path.endswith(EVALSET_SUFFIXES):
        return None
    stem = PurePosixPath(path[len(EVALSETS) + 1:]).with_suffix("")
    candidates = [f"{PROMPTS}/{stem}{suffix}" for suffix in PROMPT_SUFFIXES]
    return next((c for c in candidates if (root / c).is_file()), candidates[0])


def slim_file(rel: str) -> str:
    """The slim prompt keeps the original's suffix: slim.j2, slim.txt or slim.md."""
    return prompt_file("slim", rel)


def slim_rel(name: str, rel: str) -> str:
    return prompt_rel("slim", name, rel)


def evalset_rel(template_rel: str, suffix: str = ".yaml") -> str:
    """prompts/a/b.j2 -> evalsets/a/b.yaml: where a prompt's eval set lives (or should be created)."""
    stem = PurePosixPath(_path_part(template_rel)).with_suffix("")
    if stem.parts and stem.parts[0] == PROMPTS:
        stem = PurePosixPath(*stem.parts[1:])
    return f"{EVALSETS}/{stem.as_posix()}{suffix}"


def evalset_candidates(template_rel: str) -> list[str]:
    """Every path the prompt's eval set may have, in the order they are looked for."""
    return [evalset_rel(template_rel, suffix) for suffix in EVALSET_SUFFIXES]


def prompt_file(stem: str, rel: str) -> str:
    """A prompt a lever proposes, next to slim.j2 with the original's suffix: rewritten.j2, …"""
    return stem + PurePosixPath(_path_part(rel)).suffix


def prompt_rel(stem: str, name: str, rel: str) -> str:
    return f"{REPORTS}/{name}/{prompt_file(stem, rel)}"


def reports_dir(name: str) -> str:
    """reports/<name>: where a prompt's ablation reports and slim prompt go."""
    return f"{REPORTS}/{name}"


def runs_dir(name: str) -> str:
    """reports/<name>/runs: every ablation's own reports, one folder per run id (the top level is the latest)."""
    return f"{REPORTS}/{name}/runs"


def outside_prompts(given: str, path: Path, root: Path) -> str | None:
    """The one-line refusal for a template outside prompts/, or None when it is inside.

    Every command refuses these the same way (issue 13: units/count accepted them, eval/ablate asked for an eval
    set at a path nothing else reads, check ignored them): the template's name, its eval set, its config entry
    and its reports all derive from its path under prompts/.
    """
    resolved = path.resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return None  # outside the repository: loading refuses it with its own message
    try:
        resolved.relative_to((root / PROMPTS).resolve())
        return None
    except ValueError:
        return (f"{given}: not under {PROMPTS}/ — promptslim reads templates from {PROMPTS}/ (their eval sets from "
                f"evalsets/ under the same path): move it to {PROMPTS}/{Path(given).name}")
