"""The daemon: the agent loops and the parts they drive (fleet side, heater side)."""
