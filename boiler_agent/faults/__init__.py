"""The fault campaign: the whole agent under faults drawn from a seed, checked by invariants."""
