"""The pull-request check: what changed since the base (changes), what it trusts (trust), which eval set gates
(evalset_gate), and the check itself (engine)."""
