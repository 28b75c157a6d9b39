"""`check --junit FILE`: the check as JUnit XML, one test case per changed template, for CI systems' test views.

A template that failed a gate (regression, budget, cost increase, missing eval set) is a <failure> whose
message is its failures; everything else passes. ElementTree escapes every string, so a hostile file name
or case id cannot change the XML's structure; control characters XML 1.0 forbids are replaced.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from promptslim.results import CheckResult, CheckRow

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _details(row: CheckRow) -> str:
    lines = [f"status: {row.status}" + (f" (from {row.base_path})" if row.base_path and row.base_path != row.template
                                        else "")]
    if row.base is not None or row.head is not None:
        base = f"{row.base.input_tokens:.1f}" if row.base else "—"
        head = f"{row.head.input_tokens:.1f}" if row.head else "—"
        lines.append(f"input tokens/call: {base} -> {head}")
    q = row.quality
    if q is not None:
        ci = "" if not q.ci else f" [{q.ci[0] if q.ci[0] is not None else '—'}, {q.ci[1] if q.ci[1] is not None else '—'}]"
        lines.append(f"quality: {q.outcome}, delta {q.delta}{ci}")
    if row.usd_per_month_delta is not None:
        lines.append(f"$/month delta: {row.usd_per_month_delta:+.2f}")
    lines += [f"failure: {f}" for f in row.failures]
    return "\n".join(lines)


def junit_xml(result: CheckResult) -> str:
    """The XML document: <testsuites><testsuite name="promptslim check"> with one <testcase> per template."""
    failures = sum(1 for row in result.templates if row.failed)
    suites = ET.Element("testsuites", name="promptslim", tests=str(len(result.templates)), failures=str(failures),
                        errors="0")
    suite = ET.SubElement(suites, "testsuite", name="promptslim check", tests=str(len(result.templates)),
                          failures=str(failures), errors="0", skipped="0")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("base", result.base), ("base_sha", result.base_sha), ("model", result.model),
                        ("judge_model", result.judge_model), ("no_eval", str(result.no_eval).lower())):
        ET.SubElement(properties, "property", name=name, value=_text(value))
    for row in result.templates:
        case = ET.SubElement(suite, "testcase", name=_text(row.template), classname="promptslim.check")
        if row.failed:
            failure = ET.SubElement(case, "failure", message=_text("; ".join(row.failures) or "failed"),
                                    type="regression" if row.quality and row.quality.regression else "gate")
            failure.text = _text(_details(row))
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _text(_details(row))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
