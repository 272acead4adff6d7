#!/usr/bin/env bash
# Make sure the system (Debian) packages the test suite needs are installed. Idempotent.
#
#   scripts/install-system-deps.sh          # install what is missing (root + apt-get), else print how
#
# As root with apt-get: runs `apt-get update` once (only when something is missing) and installs the
# missing packages. Otherwise it prints the command to run and exits 0: the tests that need a
# missing binary are then skipped with the same hint (they fail instead when CI=true).
set -euo pipefail

# binary -> Debian package. Alternative names of one binary are separated by '|'
# (Debian ships Alertmanager as `prometheus-alertmanager`, upstream calls it `alertmanager`).
# To add a dependency, add a line here.
DEPS=(
  "prometheus=prometheus"
  "promtool=prometheus"
  "prometheus-alertmanager|alertmanager=prometheus-alertmanager"
  "amtool=prometheus-alertmanager"
  "prometheus-pushgateway|pushgateway=prometheus-pushgateway"
  # VictoriaMetrics single node, its scraper and its rule evaluator (one Debian package)
  "victoria-metrics=victoria-metrics"
  "vmagent=victoria-metrics"
  "vmalert=victoria-metrics"
  "redis-server=redis-server"
  # PostgreSQL's server binaries are not on PATH on Debian: a name with a '/' is a glob, newest version wins
  "initdb|/usr/lib/postgresql/*/bin/initdb=postgresql"
  "postgres|/usr/lib/postgresql/*/bin/postgres=postgresql"
  # the status page test renders /status in a headless browser (tests/status/test_browser.py)
  "chromium=chromium"
)

# Print the path of the first of the '|'-separated names found on PATH; fail if none is.
find_binary() {
  local name
  IFS='|' read -ra names <<<"$1"
  for name in "${names[@]}"; do
    if [[ "$name" == */* ]]; then
      # a path glob (e.g. /usr/lib/postgresql/*/bin/initdb): the last match in version order
      local match
      match=$(compgen -G "$name" | sort -V | tail -n1 || true)
      if [[ -n "$match" && -x "$match" ]]; then
        echo "$match"
        return 0
      fi
      continue
    fi
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

missing_packages() {
  local entry binaries package
  local -a out=()
  for entry in "${DEPS[@]}"; do
    binaries=${entry%%=*}
    package=${entry#*=}
    if ! find_binary "$binaries" >/dev/null; then
      [[ " ${out[*]-} " == *" $package "* ]] || out+=("$package")
    fi
  done
  echo "${out[*]-}"
}

versions() {
  local entry binaries path version
  local -a out=()
  for entry in "${DEPS[@]}"; do
    binaries=${entry%%=*}
    path=$(find_binary "$binaries")
    # First "x.y.z" in `--version` output (prometheus/alertmanager print to stderr).
    version=$("$path" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1 || true)
    # Debian's VictoriaMetrics binaries print an empty version: ask dpkg instead
    if [[ -z "$version" ]] && command -v dpkg-query >/dev/null 2>&1; then
      version=$(dpkg-query -W -f='${Version}' "${entry#*=}" 2>/dev/null | grep -oE '^[0-9]+\.[0-9]+(\.[0-9]+)?' || true)
    fi
    out+=("$(basename "$path") ${version:-?}")
  done
  local IFS=','
  echo "${out[*]}" | sed 's/,/, /g'
}

missing=$(missing_packages)
if [[ -z "$missing" ]]; then
  echo "system deps: ok ($(versions))"
  exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "system deps: installing $missing" >&2
  apt-get update -qq
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  still_missing=$(missing_packages)
  if [[ -n "$still_missing" ]]; then
    echo "system deps: still missing after install: $still_missing" >&2
    exit 1
  fi
  echo "system deps: ok ($(versions))"
  exit 0
fi

# Not root or no apt-get: say what to install; tests needing these binaries will skip (fail in CI).
{
  echo "system deps: missing package(s): $missing"
  echo "  install them with: sudo apt-get install $missing"
  echo "  (needed tests are skipped until then; with CI=true they fail)"
} >&2
exit 0
