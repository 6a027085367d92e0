#!/usr/bin/env bash
# Installs the Debian packages and starts the services that hotline12345's tests need,
# only where they are missing. Safe to run repeatedly; a no-op on a prepared machine.
#
# For the tests, PostgreSQL on 127.0.0.1:5432 must accept the user postgres without a
# password. When it does not, this script adds "trust" lines for local connections to
# pg_hba.conf (marked "hotline12345-trust") and reloads it: do not run it against a
# PostgreSQL that holds anything you care about.
set -euo pipefail

sudo_() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "system-deps: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have make || need+=(make)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox)
have ffmpeg || need+=(ffmpeg)
have redis-server || need+=(redis-server)
have pg_ctlcluster || need+=(postgresql)
have chromium || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
    echo "system-deps: installing ${need[*]}"
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "${need[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
    echo "system-deps: starting redis-server on 127.0.0.1:6379"
    sudo_ mkdir -p /var/lib/redis /var/log/redis
    sudo_ redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

pg_ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$pg_ver" ]; then
    echo "system-deps: PostgreSQL is installed but has no cluster in /etc/postgresql" >&2
    exit 1
fi
if ! port_open 5432; then
    echo "system-deps: starting PostgreSQL $pg_ver on 127.0.0.1:5432"
    sudo_ pg_ctlcluster --skip-systemctl-redirect "$pg_ver" main start
fi
pg_trusts() { psql -h 127.0.0.1 -U postgres -w -d postgres -Atc "select 1" >/dev/null 2>&1; }
for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
if ! pg_trusts; then
    hba=/etc/postgresql/$pg_ver/main/pg_hba.conf
    echo "system-deps: letting postgres connect from 127.0.0.1 without a password ($hba)"
    if ! sudo_ grep -q "hotline12345-trust" "$hba"; then
        sudo_ sed -i '1i host all postgres 127.0.0.1/32 trust # hotline12345-trust' "$hba"
        sudo_ sed -i '1i host all postgres ::1/128 trust # hotline12345-trust' "$hba"
    fi
    sudo_ pg_ctlcluster --skip-systemctl-redirect "$pg_ver" main reload
fi

for _ in $(seq 1 30); do
    port_open 6379 && pg_trusts && exit 0
    sleep 1
done
echo "system-deps: Redis or PostgreSQL is not reachable on 127.0.0.1 (6379, 5432)" >&2
exit 1
