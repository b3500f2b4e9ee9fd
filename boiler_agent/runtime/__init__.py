"""The daemon's runtime plumbing: systemd notifications and the status for operators."""
