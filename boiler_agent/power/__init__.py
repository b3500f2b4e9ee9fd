"""Power: the knobs that set how much the CPUs draw, and the meter that says what they drew."""
