# gen-pipeline, buildah flavor (POSIX sh): the registry probes and retag that key.sh, build.sh
# and github.sh call. buildah 1.28 (Debian) and quay.io/buildah/stable.
# gp_digest_of REF: the manifest digest REF names in its registry; nothing (status 1) when it has none.
gp_digest_of() {
  gp_dg=""
  # buildah 1.28 cannot inspect docker:// directly: add it to a local list (reads the manifest only).
  gp_dp="gp-digest-probe-$$"
  buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
  if buildah manifest create "$gp_dp" >/dev/null 2>&1 && buildah manifest add "$gp_dp" "docker://$1" >/dev/null 2>&1; then
    gp_dg=$(buildah manifest inspect "$gp_dp" | sed -n 's/.*"digest": *"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
  fi
  buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
  case $gp_dg in sha256:*) printf '%s\n' "$gp_dg" ;; *) return 1 ;; esac
}
# gp_retag SRC REF...: point every REF at SRC (REPO@DIGEST) without building; the digest stays SRC's.
gp_retag() {
  gp_src=$1; shift
  if command -v skopeo >/dev/null 2>&1; then
    for gp_r; do skopeo copy --preserve-digests "docker://$gp_src" "docker://$gp_r" || return 1; done
    return 0
  fi
  # No skopeo in buildah's image: pull the image (layers only, nothing runs) and push it under
  # each tag; the blob-info cache reuses the registry's compressed layers, so the digest is SRC's.
  gp_iid=$(buildah pull -q "docker://$gp_src") || return 1
  for gp_r; do
    buildah push --digestfile "$GP_DIGEST_FILE.retag" "$gp_iid" "docker://$gp_r" || return 1
    if [ "$(cat "$GP_DIGEST_FILE.retag")" != "${gp_src#*@}" ]; then
      echo "gen-pipeline: $gp_r got $(cat "$GP_DIGEST_FILE.retag"), not ${gp_src#*@}" >&2; return 1
    fi
  done
}
