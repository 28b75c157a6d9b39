"""The PR check: every prompt template changed since a base ref, base vs head — tokens, quality, dollars, gates.

The base side is read from git (`git show REF:path`), never from the working tree, and renders in
the same sandbox as the head side: a pull request can change what "base" means only through git.
Both sides are evaluated on the head eval set through one runner, so an unchanged side is a cache
hit and a rerun of the same check costs nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from promptslim import gitutil, paths, trust
from promptslim.config import Config, PromptConfig, find_root, load_config
from promptslim.errors import InputError, SandboxRefusal
from promptslim.evalset import EvalSet, evalset_for, load_evalset
from promptslim.prices import Price, price_for, usd_text
from promptslim.report import fmt
from promptslim.report.check import render_markdown
from promptslim.runfacts import price_facts, run_facts, tokens_note, warnings
from promptslim.safeio import MAX_TEMPLATE_BYTES, atomic_write, read_repo_text
from promptslim.session import NONE, Models, resolve_models, run_notices
from promptslim.decide import check_outcome
from promptslim.template import Message, Template, relpath, template_from_source, template_name
from promptslim.tokens import count_messages

PROMPTS, EVALSETS = "prompts", "evalsets"
EVALSET_SUFFIXES = (".yaml", ".yml", ".jsonl")
REPORT = "reports/check.md"


@dataclass(frozen=True)
class CheckResult:
    markdown: str  # PR-comment markdown (also written to reports/check.md by run_check)
    failed: bool  # True -> CLI exits 1
    data: dict  # the same as JSON-able data (per template rows, gates, base ref)


@dataclass
class _Target:
    """One changed template with both sides loaded and rendered (before any call)."""

    status: str  # added | modified | renamed | deleted
    path: str  # head path; the base path when deleted
    base_path: str | None
    name: str
    prompt: PromptConfig
    evalset: EvalSet | None = None
    evalset_note: str | None = None  # "changed" | "new" when the head eval set differs from the base's
    base: Template | None = None
    head: Template | None = None
    base_msgs: list[list[Message]] | None = None
    head_msgs: list[list[Message]] | None = None
    base_note: str | None = None  # why the base side has no figures

    @property
    def evaluable(self) -> bool:
        return self.status != "deleted" and self.evalset is not None and self.head_msgs is not None


def run_check(*, base: str | None, templates: list[str], no_eval: bool, allow_missing_evalset: bool,
              fail_on_cost_increase: float | None, model: str | None, judge_model: str | None,
              max_cost: float | None, yes: bool, use_cache: bool, notice: Callable[[str], None],
              root: Path | None = None, require_noninferior: bool = False, batch: bool = False) -> CheckResult:
    """Compare changed templates at REF with the working tree; gates decide `failed`."""
    trust.refuse_linked_config(root or find_root())
    head_config = load_config(root)  # validated: a broken head config is still bad input
    root = head_config.root
    ref, sha = _resolve_base(root, base)
    config = trust.base_config(root, sha)  # the gate is the base's, never the pull request's own
    config_changes = trust.config_changes(config, head_config)
    trust.check_state(root, config.home)
    changes = _restrict(_discover(root, sha), templates, root)
    models = resolve_models(config, model, judge_model)
    price = price_for(models.price_model, config)
    targets = [_load(change, root, sha, config) for change in changes]
    results: dict[tuple[int, str], Any] = {}
    run: dict | None = None
    if not no_eval and any(t.evaluable for t in targets):
        results, run = _evaluate(targets, config, models, price, max_cost, yes, use_cache, notice, batch)
    gates = {"margin": config.margin, "fail_on_cost_increase": fail_on_cost_increase,
             "allow_missing_evalset": allow_missing_evalset, "require_noninferior": require_noninferior}
    rows = [_row(i, t, results, price, models, gates) for i, t in enumerate(targets)]
    sources = {side["tokens_source"] for r in rows for side in (r["base"], r["head"]) if side}
    tokens_source = "estimated" if "estimated" in sources or not sources else (
        "server-reported" if "server-reported" in sources else "exact")
    data = {
        "base": ref, "base_sha": sha, "no_eval": no_eval, "model": models.model, "judge_model": models.judge_model,
        "price_model": models.price_model, "price_source": price.source,
        "prices": (run or {}).pop("prices", None) or price_facts(price, None), "tokens_source": tokens_source,
        "tokens_note": tokens_note(tokens_source, models.price_model, models.local),
        "warnings": warnings(run, models.local) if run else [],
        "usd_per_mtok": {"input": price.input, "cached_input": price.cached_input, "output": price.output},
        "restricted_to": sorted(templates) if templates else None, "gates": gates, "templates": rows,
        "failed": any(r["failed"] for r in rows), "run": run, "config_changes": config_changes,
    }
    markdown = render_markdown(data) + trust.config_changes_markdown(config_changes)
    atomic_write(root / REPORT, markdown + "\n", root)
    return CheckResult(markdown=markdown, failed=data["failed"], data=data)


# ---------------------------------------------------------------- git: what changed
def _resolve_base(root: Path, base: str | None) -> tuple[str, str]:
    if gitutil.git(root, "rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise InputError(f"{root}: not a git repository — `promptslim check` compares templates against a git ref")
    ref = base or gitutil.default_base(root)
    sha = gitutil.git(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
    if not sha:
        raise InputError(f"--base {ref}: no such commit in this repository — fetch it first "
                         "(in CI: actions/checkout with fetch-depth: 0)")
    return ref, sha


def _is_template(path: str | None) -> bool:
    return bool(path) and path.startswith(f"{PROMPTS}/") and paths.is_prompt(path)


def _discover(root: Path, sha: str) -> list[gitutil.Change]:
    """Changed templates, plus templates whose eval set alone changed."""
    found = gitutil.changes(root, sha, (PROMPTS, EVALSETS))
    templates: dict[str, gitutil.Change] = {}
    for c in found:
        if c.status == "renamed":
            head_ok, base_ok = _is_template(c.path), _is_template(c.base_path)
            if head_ok and base_ok:
                templates[c.path] = c
            elif head_ok:
                templates[c.path] = gitutil.Change("added", c.path, None)
            elif base_ok:
                templates[c.base_path] = gitutil.Change("deleted", c.base_path, c.base_path)
        elif _is_template(c.path):
            templates[c.path] = c
    covered = set(templates) | {c.base_path for c in templates.values() if c.base_path}
    for c in found:
        for path in (c.path, c.base_path):
            tpl = paths.prompt_of_evalset(path, root)
            if tpl and tpl not in covered and (root / tpl).is_file():
                templates[tpl] = gitutil.Change("modified", tpl, tpl)
                covered.add(tpl)
    return sorted(templates.values(), key=lambda c: c.path)


def _restrict(changes: list[gitutil.Change], templates: list[str], root: Path) -> list[gitutil.Change]:
    if not templates:
        return changes
    wanted = set()
    for given in templates:
        path = Path(given)
        options = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
        rel = relpath(next((p for p in options if p.exists()), options[-1]), root)
        if not paths.is_prompt(rel):
            raise InputError(paths.not_a_prompt(given))
        wanted.add(rel)
    return [c for c in changes if c.path in wanted or c.base_path in wanted]


def _evalset_rel(template_rel: str, suffix: str) -> str:
    return f"{EVALSETS}/{Path(template_rel[len(PROMPTS) + 1:]).with_suffix(suffix).as_posix()}"


def _base_evalset(root: Path, sha: str, template_rel: str) -> tuple[str, str] | None:
    """(path, text) of the template's eval set at the base ref."""
    for suffix in EVALSET_SUFFIXES:
        rel = _evalset_rel(template_rel, suffix)
        text = gitutil.show(root, sha, rel)
        if text is not None:
            return rel, text
    return None


def _evalset_from_text(rel: str, text: str) -> EvalSet:
    """Load an eval set that only exists in git; error messages still name its repo path."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load_evalset(path, Path(tmp))


# ---------------------------------------------------------------- load and render both sides
def _load(change: gitutil.Change, root: Path, sha: str, config: Config) -> _Target:
    head_rel = None if change.status == "deleted" else change.path
    base_rel = change.base_path
    name = template_name(head_rel or base_rel or change.path)
    t = _Target(change.status, change.path, base_rel, name, config.prompt(name))
    if head_rel:
        source = read_repo_text(root / head_rel, root, "template", MAX_TEMPLATE_BYTES)
        t.head = template_from_source(source, head_rel)
    if base_rel:
        source = gitutil.show(root, sha, base_rel)
        if source is None:
            raise InputError(f"{base_rel}: not found at {sha[:7]} (git show failed)")
        # rel names the git object, so errors read "abc1234:prompts/x.j2:3: …"; the config key is the head's.
        # A base that does not compile is what a PR may be fixing: report it, do not block on it.
        try:
            t.base = replace(template_from_source(source, f"{sha[:7]}:{base_rel}"), name=name)
        except InputError as exc:
            t.base_note = f"the base version does not compile ({exc.message})"
    head_evalset = evalset_for(head_rel, root) if head_rel else None
    if head_evalset is not None:
        t.evalset = load_evalset(head_evalset, root, config.prompt(name).criteria, config.prompt(name).threshold)
        at_base = _base_evalset(root, sha, base_rel or head_rel)
        if at_base is None:
            t.evalset_note = "new"
        elif _sha(at_base[1]) != t.evalset.sha256:
            t.evalset_note = "changed"
    elif change.status == "deleted":
        at_base = _base_evalset(root, sha, base_rel)
        t.evalset = _evalset_from_text(*at_base) if at_base else None
    if t.head is not None:
        t.head_msgs = _render(t.head, t.evalset, strict=t.evalset is not None)
    if t.base is not None:
        t.base_msgs = _render(t.base, t.evalset, strict=False)
        if t.base_msgs is None:
            t.base_note = ("the base version does not render with the head eval set"
                           if t.evalset else "the base version does not render without variables")
    return t


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _render(tpl: Template, evalset: EvalSet | None, strict: bool) -> list[list[Message]] | None:
    """Messages per eval case (or one render with no variables); None when that is not possible.

    A sandbox refusal always raises, strict or not: a template that tries to escape is an error
    on either side, never a figure we leave out.
    """
    try:
        if evalset is not None:
            return [tpl.render(c.vars, c.input, c.where(evalset.path)) for c in evalset.cases]
        return [tpl.render({}, "", None)]
    except SandboxRefusal:
        raise
    except InputError:
        if strict:
            raise
        return None


# ---------------------------------------------------------------- evaluate (one runner, cached)
def _evaluate(targets: list[_Target], config: Config, models: Models, price: Price, max_cost: float | None,
              yes: bool, use_cache: bool, notice: Callable[[str], None], batch: bool = False) -> tuple[dict, dict]:
    from promptslim.evaluate import Evaluator
    from promptslim.judge import Judge
    from promptslim.prepare import Prepared, plan, within_budget
    from promptslim.session import make_runner

    budget = config.max_cost_usd if max_cost is None else max_cost
    for line in run_notices(models):
        notice(line)
    runner = make_runner(config, models, budget_usd=budget, use_cache=use_cache, command="check", batch=batch)
    jobs: list[tuple[tuple[int, str], Any, str]] = []
    plans = []
    for i, t in enumerate(targets):
        if not t.evaluable:
            continue
        assert t.evalset is not None and t.head is not None
        judged = models.judge_model != NONE and bool(t.evalset.criteria)
        side_models = models if judged else replace(models, judge_model=NONE)
        judge = None
        if judged:
            judge = Judge(runner, models.judge_model, t.evalset.criteria or "", config.home,
                          threshold=t.evalset.threshold, steps=t.evalset.steps, json_mode=models.judge_is_local,
                          embedded=models.judge_is_local,
                          where=t.evalset.path)
        sides = [("head", t.head)] + ([("base", t.base)] if t.base is not None and t.base_msgs else [])
        for side, tpl in sides:
            ev = Evaluator(template=tpl, evalset=t.evalset, runner=runner, models=side_models, config=config,
                           price=price, repeats=config.repeats, calls_per_month=t.prompt.calls_per_month,
                           judge=judge)
            jobs.append(((i, side), ev, tpl.source))
            # an identical rendering (eval-set-only change) is answered once: plan it once
            if side == "head" or t.base_msgs != t.head_msgs:
                plans.append(plan(Prepared(config, tpl, t.evalset, side_models, ev), [tpl.source], budget))
    usd = sum(p.usd for p in plans)
    judge_calls = sum(p.judge_calls for p in plans)
    judge = f" + {judge_calls} judge calls ({models.judge_model})" if judge_calls else ""
    batch_note = ""
    if batch:
        online = sum(p.usd_list or 0.0 for p in plans)
        batch_note = f" at the batch price (online ${online:.4f}; --batch saves ${online - usd:.4f})"
    notice(f"plan: {len(plans)} variant(s) over {len({key[0] for key, _, _ in jobs})} changed "
           f"template(s) = {sum(p.target_calls for p in plans)} target calls ({models.model}; "
           f"{sum(p.cached_calls for p in plans)} cached){judge}; ~{sum(p.input_tokens for p in plans):,} input "
           f"tokens, ~{sum(p.output_tokens for p in plans):,} output tokens (estimated); estimated ${usd:.4f}"
           f"{batch_note} of {usd_text(budget)} budget")

    async def guarded() -> list[Any]:
        await within_budget(usd, budget, yes)
        return await runner.gather(ev.run(source) for _, ev, source in jobs)

    answers = runner.run(guarded())
    run = {"calls": runner.api_calls, "cache_hits": runner.cache_hits, "usd": runner.spent}
    evaluators = [ev for _, ev, _ in jobs]
    run.update(run_facts(runner, evaluators, [ev.judge for ev in evaluators if ev.judge is not None],
                         max_tokens=evaluators[0].params(0).max_tokens if evaluators else config.max_tokens,
                         local=models.local))
    judge_role = runner.roles.get("judge")
    run["prices"] = price_facts(price, judge_role.price if judge_role else None)
    return {key: answer for (key, _, _), answer in zip(jobs, answers)}, run


# ---------------------------------------------------------------- figures and gates
def _side(msgs: list[list[Message]] | None, result: Any, price: Price, prompt: PromptConfig,
          models: Models) -> dict | None:
    if msgs is None:
        return None
    s = result.summary if result is not None else None
    if s is not None and s.tokens_source != "estimated":
        tokens = [c.input_tokens for c in result.cases]  # exact, or what the endpoint reported (issue 17)
        source = s.tokens_source
    else:  # static: our count, an estimate where the model has no public tokenizer
        counted = [count_messages(m, models.price_model) for m in msgs]
        tokens = [c.tokens for c in counted]
        source = "estimated" if models.local or any(c.approximate for c in counted) else "exact"
    mean_in = sum(tokens) / len(tokens)
    out = s.output_tokens if s is not None else None
    per_call = price.per_call(mean_in, out or 0.0, prompt.cached_input_fraction)
    return {"input_tokens": mean_in, "input_tokens_max": max(tokens), "input_tokens_per_case": tokens,
            "output_tokens": out, "score": s.score.mean if s else None,
            "ci": list(s.score.ci) if s and s.score.ci else None, "n": s.score.n if s else None,
            "pass_rate": s.pass_rate if s else None, "usd_per_call": per_call,
            "usd_per_month": per_call * prompt.calls_per_month, "includes_output": s is not None,
            "tokens_source": source, "answers": s.answers if s else 0, "truncated": s.truncated if s else 0,
            "judge_errors": s.judge_errors if s else 0}


def _row(i: int, t: _Target, results: dict, price: Price, models: Models, gates: dict) -> dict:
    base_res, head_res = results.get((i, "base")), results.get((i, "head"))
    base = _side(t.base_msgs, base_res, price, t.prompt, models)
    head = None if t.status == "deleted" else _side(t.head_msgs, head_res, price, t.prompt, models)
    if base is not None and head is not None and base["includes_output"] != head["includes_output"]:
        base = _side(t.base_msgs, None, price, t.prompt, models)  # like for like: input-token dollars
        head = _side(t.head_msgs, None, price, t.prompt, models)
    failures: list[str] = []
    quality = None
    if base_res is not None and head_res is not None:
        deltas = [h - b for h, b in zip(head_res.scores(), base_res.scores()) if h is not None and b is not None]
        quality = check_outcome(deltas, gates["margin"])
        quality["regression"] = quality["outcome"] == "regression"
        quality["judge_errors"] = {"base": sum(1 for x in base_res.scores() if x is None),
                                   "head": sum(1 for x in head_res.scores() if x is None)}
        if quality["regression"]:
            failures.append(f"quality regression: head is worse than base (upper 95% bound "
                            f"{fmt.signed(quality['ci'][1])} < 0) and not shown to stay within the margin "
                            f"{gates['margin']:g}")
        elif quality["outcome"] != "pass" and gates.get("require_noninferior"):
            failures.append(f"could not show non-inferiority (lower 95% bound {fmt.signed(quality['ci'][0])} "
                            f"≤ −margin {fmt.signed(-gates['margin'])}) and --require-noninferior is set"
                            if quality["ci"] else "could not show non-inferiority (too few scored cases) "
                            "and --require-noninferior is set")
    budget = t.prompt.max_input_tokens
    if head is not None and budget is not None and head["input_tokens_max"] > budget:
        failures.append(f"{head['input_tokens_max']:,} input tokens/call (largest case) exceeds max_input_tokens "
                        f"{budget:,}")
    if t.status != "deleted" and t.evalset is None and not gates["allow_missing_evalset"]:
        failures.append(f"no eval set — create {_evalset_rel(t.path, '.yaml')} (or pass --allow-missing-evalset)")
    delta_usd = pct = None
    if base is not None and head is not None:
        delta_usd = head["usd_per_month"] - base["usd_per_month"]
        if base["usd_per_month"] > 0:
            pct = 100 * delta_usd / base["usd_per_month"]
    limit = gates["fail_on_cost_increase"]
    if limit is not None and pct is not None and pct > limit:
        failures.append(f"$/month {fmt.signed(pct, 1)}% exceeds --fail-on-cost-increase {limit:g}%")
    if t.status == "deleted":
        failures = []  # a deletion only ever saves
        delta_usd = -base["usd_per_month"] if base else None
    cases = t.evalset.cases if t.evalset else ()
    per_case = []
    if base_res is not None or head_res is not None:
        for k, case in enumerate(cases):
            per_case.append({"id": case.id,
                             "base_score": base_res.cases[k].score if base_res else None,
                             "head_score": head_res.cases[k].score if head_res else None,
                             "head_failures": list(head_res.cases[k].failures) if head_res else []})
    return {
        "template": t.path, "base_path": t.base_path, "status": t.status, "name": t.name,
        "evalset": t.evalset.path if t.evalset else None, "evalset_note": t.evalset_note, "cases": len(cases),
        "calls_per_month": t.prompt.calls_per_month, "max_input_tokens": budget, "base": base, "head": head,
        "base_note": t.base_note, "evaluated": head_res is not None, "quality": quality,
        "usd_per_month_delta": delta_usd, "usd_per_month_change_pct": pct, "failures": failures,
        "failed": bool(failures), "per_case": per_case, "rendered_diff": _prompt_diff(t),
    }


def _prompt_text(msgs: list[list[Message]] | None) -> str | None:
    """The rendered system prompt of the first case (every template message when there is no system one)."""
    if not msgs:
        return None
    first = msgs[0]
    system = [m["content"] for m in first if m["role"] == "system"]
    if system:
        return "\n\n".join(system)
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in first)


def _prompt_diff(t: _Target) -> str:
    """Unified diff of the rendered prompt, base vs head; empty when the rendering did not change."""
    old, new = _prompt_text(t.base_msgs), _prompt_text(t.head_msgs)
    if old == new:
        return ""
    base_name = f"base {t.base.rel}" if t.base is not None else "/dev/null"
    head_name = f"head {t.path}" if t.head is not None else "/dev/null"
    return "\n".join(difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), base_name, head_name,
                                         lineterm=""))
