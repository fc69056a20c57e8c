#!/bin/sh
# uninstall.sh: remove mailfleet-agent from a Mac (run as root; macOS only). The outbox
# and the SSH key go too unless -k (keep /Library/Application Support/mailfleet).
set -u
if [ "$(uname -s)" != "Darwin" ]; then
    echo "uninstall.sh removes the macOS agent and runs only on macOS." >&2
    exit 2
fi
keep=0
[ "${1:-}" = "-k" ] && keep=1
for job in org.mailfleet.agent org.mailfleet.agent.flush; do
    launchctl bootout "system/$job" 2>/dev/null || true
    rm -f "/Library/LaunchDaemons/$job.plist"
done
rm -f /usr/local/bin/mailfleet-agent /usr/local/libexec/mailfleet-agent-run
rm -rf /usr/local/lib/mailfleet
[ $keep -eq 1 ] || rm -rf "/Library/Application Support/mailfleet"
pkgutil --forget org.mailfleet.agent >/dev/null 2>&1 || true
echo "mailfleet-agent removed"
