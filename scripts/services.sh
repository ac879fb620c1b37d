#!/usr/bin/env bash
# Installs (Debian packages) and starts the servers the integration tests use, idempotently.
#   scripts/services.sh postgres   PostgreSQL over TCP on 127.0.0.1:5432, password auth,
#                                  user postgres / password postgres (LINKAGE_TEST_TCP_DSN's default)
#   scripts/services.sh java       Java and Maven, for the Apache Kafka cluster tests
#   scripts/services.sh browser    Debian's Chromium and the Noto CJK fonts, for the browser tests
set -euo pipefail

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "services.sh: need root to apt-get install $*" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1 \
    || apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  # The tests connect over TCP with a password (scram-sha-256, Debian's default for host lines).
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}

java() {
  # Apache Kafka for the cluster tests: its jars come from Maven Central (deploy/kafka/pom.xml).
  command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 \
    || apt_install default-jre-headless maven
}

node() {
  # npm installs the workbench's front-end packages (htmx) at set-up.
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
}

browser() {
  # Browser tests drive Debian's Chromium through Playwright (never a browser download).
  [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto.*cjk" \
    || apt_install chromium fonts-noto-cjk
}

for service in "$@"; do "$service"; done
