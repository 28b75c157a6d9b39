"""The levers: each strategy names the variants it may run and returns its typed section of the result."""
