"""What a run costs: prices, the provider prompt cache, the one cost figure every command shows, the plan estimate."""
