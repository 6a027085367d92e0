#!/usr/bin/env bash
# Installs the Debian packages and starts the services that hotline12345's tests need,
# only where they are missing. Safe to run repeatedly; a no-op on a prepared machine.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox)
have ffmpeg || need+=(ffmpeg)
have redis-server || need+=(redis-server)
have pg_ctlcluster || need+=(postgresql)
have chromium || need+=(chromium)

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

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

if ! port_open 5432; then
    echo "system-deps: starting PostgreSQL on 127.0.0.1:5432"
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    conf=/etc/postgresql/$ver/main
    # Tests connect as postgres over TCP without a password, as on the CI machines.
    if ! grep -q "hotline12345-trust" "$conf/pg_hba.conf"; then
        sudo_ sed -i '1i host all all 127.0.0.1/32 trust # hotline12345-trust' "$conf/pg_hba.conf"
        sudo_ sed -i '1i local all all trust # hotline12345-trust' "$conf/pg_hba.conf"
    fi
    sudo_ pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi

for _ in $(seq 1 30); do port_open 6379 && port_open 5432 && exit 0; sleep 1; done
echo "system-deps: Redis or PostgreSQL did not come up on 127.0.0.1" >&2
exit 1
