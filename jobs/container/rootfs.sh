#!/usr/bin/env bash
# Lays out the image's root filesystem in DEST from a built lakesight binary: the binary (debug
# sections stripped), exactly the shared libraries it links (as `ldd` resolves them, at the same
# paths, with the dynamic loader), the CA bundle (the AWS SDK and object_store verify TLS against
# the system roots), queries/ and jobs/ under /opt/lakesight and a non-root user, in DEST/base;
# the SageMaker Processing directories and the user's home, which the user must own, in DEST/owned
# (a Containerfile COPY makes files root's unless it says --chown, so they are copied apart). Used by the Containerfile's build stage and by
# build.sh on a host without a registry, so both images are laid out by the same lines.
# Usage: jobs/container/rootfs.sh BINARY DEST
set -euo pipefail
bin="$1"
dest="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
uid=10001
rm -rf "$dest"
owned="$dest/owned"
dest="$dest/base"
mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/opt/lakesight" "$dest/tmp" \
    "$owned/opt/ml/processing/input" "$owned/opt/ml/processing/output" "$owned/opt/ml/output" \
    "$owned/home/lakesight"
objcopy --strip-debug "$bin" "$dest/usr/local/bin/lakesight"
# Every library the binary needs, and the loader (the line without "=>").
ldd "$bin" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]+ \(/ {print $1}' | sort -u | while read -r lib; do
    mkdir -p "$dest$(dirname "$lib")"
    cp -L "$lib" "$dest$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"
cp -r "$root/queries" "$root/jobs" "$dest/opt/lakesight/"
rm -rf "$dest/opt/lakesight/jobs/container"
printf 'root:x:0:0:root:/root:/sbin/nologin\nlakesight:x:%s:%s:lakesight:/home/lakesight:/sbin/nologin\n' "$uid" "$uid" >"$dest/etc/passwd"
printf 'root:x:0:\nlakesight:x:%s:\n' "$uid" >"$dest/etc/group"
chmod 1777 "$dest/tmp"
