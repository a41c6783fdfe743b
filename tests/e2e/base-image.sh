#!/usr/bin/env bash
# Makes a tiny base image locally (nothing can be pulled here): `buildah from scratch`, Debian
# busybox-static's /bin/busybox plus applet links in /bin, committed and pushed to REF.
#
#   base-image.sh REF        # e.g. 127.0.0.1:5000/library/busybox:1 ; prints REF@sha256:...
#
# Uses whatever `buildah` is first on PATH (a Builder wrapper with its own --root works) and expects
# to be logged in to the registry already (or REGISTRY_AUTH_FILE pointing at credentials).
set -euo pipefail
ref=${1:?usage: base-image.sh REF}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "busybox-static is not installed ($busybox)" >&2; exit 1; }
# Stage the root filesystem on the host and `buildah copy` it in: `buildah mount` is not usable
# through a Builder wrapper (each call runs in its own private mount namespace).
stage=$(mktemp -d)
ctr=$(buildah from --quiet scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tmp" "$stage/etc" "$stage/root"
chmod 1777 "$stage/tmp"
cp "$busybox" "$stage/bin/busybox"
for applet in sh ash cp cat sleep mkdir echo ls rm mv ln touch env sed grep head tail wc tr \
  printf test true false sha256sum find xargs tee date id uname cut sort uniq dirname basename \
  chmod gzip tar wget; do
  ln -sf busybox "$stage/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$stage/etc/passwd"
printf 'root:x:0:\n' > "$stage/etc/group"
buildah copy --quiet "$ctr" "$stage/" / >/dev/null
buildah config --env PATH=/bin --cmd /bin/sh --created-by "gen-pipeline tests/e2e/base-image.sh" "$ctr"
# Fixed timestamps so the same busybox gives the same digest.
buildah commit --quiet --timestamp 0 "$ctr" "$ref" >/dev/null
digestfile=$(mktemp)
buildah push --quiet --digestfile "$digestfile" "$ref" >/dev/null
# REF without its tag (a colon in the last path component; host:port keeps its colon).
last=${ref##*/}
case "$last" in *:*) repo=${ref%:*} ;; *) repo=$ref ;; esac
echo "$repo@$(cat "$digestfile")"
rm -f "$digestfile"
