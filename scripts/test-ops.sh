#!/usr/bin/env bash
# Checks the operator files: the Prometheus alert rules parse and fire from
# synthetic series (promtool, from Debian's `prometheus` package, installed by
# test-deps.sh). That every metric they and the Grafana dashboard use is
# exported is a host test (host/tests/router.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
promtool check rules ops/prometheus/alerts.yml
(cd ops/prometheus && promtool test rules alerts.test.yml)
