#!/usr/bin/env bash
# The multi-host soak: scenarios 1-3 (a host joins and leaves, a link is cut and
# restored, a host is slowed) repeating on one site in network namespaces for
# SECONDS (default 600), sampling RSS and open descriptors of every long-lived
# process each cycle. Needs root. Usage: bench/soak-multihost.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIGSTEP_SOAK_SECS="${1:-600}" BIGSTEP_REQUIRE_NETNS=1 \
  cargo test -p bigstep --test multihost soak -- --ignored --nocapture --exact
