"""Figures, not tests: `python -m relay_local.bench` (`make bench`) and `relay soak` (`make soak`)."""

from relay_local.template import ROOT

SAMPLES = ROOT / "samples" / "media"
OUT_DIR = ROOT / ".bench"
