"""Figures, not tests: `python -m relay_local.bench` (`make bench`) and `relay soak` (`make soak`)."""
