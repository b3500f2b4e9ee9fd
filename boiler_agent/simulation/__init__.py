"""Simulated runs: the closed loop and its scores, the sample trace of a live run, its plot."""
