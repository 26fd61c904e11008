#!/usr/bin/env bash
# Checks the Prometheus files in ops/prometheus with promtool: the example
# configuration, the alerting rules, and the rules' unit tests. Installs
# Debian's `prometheus` package (which brings promtool) when promtool is
# missing and this runs as root; otherwise a missing promtool is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "!! promtool not found: install Debian's prometheus package (apt-get install prometheus)"
        exit 1
    fi
    echo "== installing promtool (Debian's prometheus package)"
    # Wait for another apt-get instead of failing on its lock. The package's
    # service is not started where policy-rc.d forbids it (containers); nothing
    # here needs the server.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus >/dev/null
fi

echo "== promtool check config ops/prometheus/prometheus.yml"
promtool check config ops/prometheus/prometheus.yml
echo "== promtool check rules ops/prometheus/alerts.yml"
promtool check rules ops/prometheus/alerts.yml
echo "== promtool test rules ops/prometheus/alerts_test.yml"
promtool test rules ops/prometheus/alerts_test.yml
