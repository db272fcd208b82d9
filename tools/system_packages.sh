#!/usr/bin/env sh
# Debian packages Sajja uses outside Python, installed when missing (idempotent):
#   fonts    Thai TrueType fonts (TLWG Laksaman and Garuda) for PDF receipts and reports, and for
#            Thai text in the browser;
#   browser  Debian's chromium, for the headless-browser test of the web dashboard;
#   bench    wrk, the HTTP load tool the bench's evening-peak section drives;
#   pooler   PgBouncer, in front of the embedded PostgreSQL for one end-to-end test and the
#            bench's pooler part (the connection budget, deploy/README.md).
#   promtool Debian's prometheus, for its promtool: the tests check and unit-test the alert rules
#            in deploy/prometheus with it (Sajja needs no Prometheus server of its own).
# Usage: tools/system_packages.sh fonts [browser] [bench] [pooler] [promtool]
# Installs only as root on Debian (apt-get); elsewhere it says what is missing and goes on, and the
# code that needs a package reports it (a 503 problem for PDFs, a skipped test for the browser).
set -eu

want=""
for group in "$@"; do
    case "$group" in
        fonts) want="$want fonts-tlwg-laksaman-ttf fonts-tlwg-garuda-ttf" ;;
        browser) want="$want chromium" ;;
        bench) want="$want wrk" ;;
        pooler) want="$want pgbouncer" ;;
        promtool) want="$want prometheus" ;;
        *) echo "system_packages: unknown group $group" >&2; exit 2 ;;
    esac
done

missing=""
for package in $want; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != "0" ] || [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "system_packages: not root on Debian; install these yourself if you need them:$missing" >&2
    exit 0
fi
echo "system_packages: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
