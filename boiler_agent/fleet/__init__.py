"""The fleet's side of the protocol: watch, record and report on heaters, and send them jobs."""
