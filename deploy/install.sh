#!/bin/sh
# Installs framering as a systemd service from a built checkout in /opt/framering (see
# docs/raspberry-pi.md). Run it as root: sudo /opt/framering/deploy/install.sh
# Safe to run again, after an upgrade for example: it keeps an existing configuration, and
# restarts the service so that a new build is the one running.
set -eu

APP=/opt/framering
CONF_DIR=/etc/framering
UNIT=/etc/systemd/system/framering.service

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run it as root (sudo $0)" >&2
  exit 1
fi
if [ ! -f "$APP/dist/src/app/cli.js" ]; then
  echo "install.sh: $APP/dist/src/app/cli.js is missing: put framering in $APP and run npm ci there first" >&2
  exit 1
fi
# The unit runs "node" from systemd's search path, the same folders as here.
if ! PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v node >/dev/null; then
  echo "install.sh: node is neither in /usr/local/bin nor in /usr/bin: install Node.js first" >&2
  exit 1
fi

# A system user without a home or a shell; the video group opens the camera devices.
if ! id framering >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin framering
fi
usermod --append --groups video framering

# The configuration may hold passwords (auth): readable by root and the service only.
install -d -m 0750 -o root -g framering "$CONF_DIR"
if [ ! -e "$CONF_DIR/framering.yaml" ]; then
  install -m 0640 -o root -g framering "$APP/deploy/framering.yaml" "$CONF_DIR/framering.yaml"
fi

install -m 0644 "$APP/deploy/framering.service" "$UNIT"
# `framering` on PATH, for `framering doctor` and the like.
printf '#!/bin/sh\nexec node %s/dist/src/app/cli.js "$@"\n' "$APP" >/usr/local/bin/framering
chmod 0755 /usr/local/bin/framering

systemctl daemon-reload
systemctl enable framering
systemctl restart framering
echo "framering is installed: systemctl status framering; journalctl -u framering -f"
