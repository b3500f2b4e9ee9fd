# Sourced by scripts/test and .ci/run: make sure a `mosquitto` binary exists for the tests,
# which start their own broker on a free loopback port (never the system's service).
# As root with apt-get, install it; else say the one command to run, and stop.
have_mosquitto() {
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]
}
if ! have_mosquitto; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing mosquitto (the tests start their own broker)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
    # The package may start a system broker on port 1883; the tests never use it. Stop it
    # where systemd runs, so nothing listens that nobody asked for.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now mosquitto >/dev/null 2>&1 || true
    fi
  else
    echo "the tests need mosquitto (they start their own broker): run" >&2
    echo "  sudo apt-get install mosquitto" >&2
    exit 2
  fi
fi
