"""The engine: run set-up, the evaluator, the trial a strategy works in, the strategies, the run record."""
