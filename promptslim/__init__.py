"""promptslim: find the prompt tokens you pay for but do not need."""

__version__ = "0.1.0"
