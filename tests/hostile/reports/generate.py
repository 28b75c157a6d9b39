"""Regenerate this folder: forged and malformed ablation.json / tier.json files (issue 25, finding 9).

Run `python tests/hostile/reports/generate.py` after a change to ablation.json's types; valid.ablation.json must
stay valid (tests/test_hardening_files.py checks it is believed) and every other file must stay refused.
"""
import copy
import hashlib
import json
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from typed import complete_ablation

SOURCE = "Be brief.\n- Greet the customer.\n"
SHA = hashlib.sha256(SOURCE.encode()).hexdigest()
valid = complete_ablation({
    "template": "prompts/a.j2", "template_sha256": SHA, "model": "gpt-4o-mini", "cases": 3, "calls_per_month": 1000,
    "baseline": {"input_tokens": 20.0, "output_tokens": 10.0, "score": 1.0, "ci": [1.0, 1.0], "pass_rate": 1.0,
                 "usd_per_call": 0.00001, "usd_per_month": 0.01, "usd_per_usable_output": 0.00001},
    "units": [{"id": 1, "line": 2, "text": "- Greet the customer.", "verdict": "removable", "input_tokens_saved": 5.0,
               "output_tokens_delta": 0.0, "score_delta": 0.0, "ci": [0.0, 0.0]}],
    "slim": {"removed": [1], "path": "reports/a/slim.j2", "input_tokens": 15.0, "output_tokens": 10.0, "score": 1.0,
             "score_delta": 0.0, "ci": [0.0, 0.0], "verdict": "removable", "usd_per_call_saved": 0.000001,
             "usd_per_month_saved": 0.001},
    "created_at": "2026-11-22T10:00:00+00:00"})
out = HERE

def write(name, data=None, text=None):
    (out / name).write_text(text if text is not None else json.dumps(data, indent=1) + "\n")

def mutate(fn):
    d = copy.deepcopy(valid); fn(d); return d

write("valid.ablation.json", valid)
write("slim_is_a_list.ablation.json", mutate(lambda d: d.update(slim=[1, 2])))
# a missing key reads as its blank, as in a file an older promptslim wrote (results/readback.migrate): tolerated
write("tolerated_unit_without_id.ablation.json", mutate(lambda d: d["units"][0].pop("id")))
write("baseline_is_a_list.ablation.json", mutate(lambda d: d.update(baseline=[1])))
text = json.dumps(valid, indent=1).replace('"output_tokens": 10.0', '"output_tokens": Infinity', 1)
write("output_tokens_infinity.ablation.json", text=text)
write("nan_score.ablation.json", text=json.dumps(valid, indent=1).replace('"score": 1.0', '"score": NaN', 1))
write("number_is_a_2kB_string.ablation.json", mutate(lambda d: d["baseline"].update(usd_per_month="9" * 2048)))
write("saving_1e400.ablation.json", text=json.dumps(valid, indent=1).replace('"usd_per_month_saved": 0.001', '"usd_per_month_saved": 1e400'))
write("saving_negative.ablation.json", mutate(lambda d: d["slim"].update(usd_per_month_saved=-10_000_000.0, usd_per_call_saved=-10.0)))
write("saving_above_cost.ablation.json", mutate(lambda d: d["slim"].update(usd_per_month_saved=10_000_000.0)))
write("output_tokens_negative.ablation.json", mutate(lambda d: d["baseline"].update(output_tokens=-1_000_000.0)))
write("calls_2000_digits.ablation.json", text=json.dumps(valid, indent=1).replace('"calls_per_month": 1000', '"calls_per_month": 1' + "0" * 2000))
write("future_schema.ablation.json", mutate(lambda d: d.update(schema_version=99)))  # an older one is migrated
write("unknown_key.ablation.json", mutate(lambda d: d.update(injected="<!--")))
write("nested_10000_deep.ablation.json", text="[" * 10000 + "]" * 10000)
write("not_an_object.ablation.json", text="[]")
write("not_json.ablation.json", text="{not json")
write("not_utf8.ablation.json", text="")
(out / "not_utf8.ablation.json").write_bytes(b'{"template": "\xff\xfe"}')
tier = {"schema_version": 1, "template": "prompts/a.j2", "recommendation": "gpt-4.1-nano",
        "usd_per_month_saved": float("1e300"), "created_at": "2026-11-22"}
write("forged.tier.json", tier)
