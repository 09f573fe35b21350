"""One experiment: its settings, plan, split, models and the attacks' context."""
