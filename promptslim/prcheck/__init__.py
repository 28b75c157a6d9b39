"""The pull-request check (`promptslim check`; the package is not named check so that `promptslim.check(...)` is the
engine function DESIGN.md names): what changed since the base (changes), what it trusts (trust), which eval set gates
(evalset_gate), and the check itself (engine)."""
