"""Templates: load and render in the sandbox (load), the render worker process (worker), and the instruction
units a removal works on (units, with layout's line structure, sentences' cuts, blocks' fences and pairs' brackets
and tags)."""
