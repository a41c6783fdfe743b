# gen-pipeline registry probe and retag, buildah flavor (POSIX sh): skopeo when present, else buildah alone.
gp_digest_of() { # the manifest digest $1 names in its registry; status 1 when none
  gp_dg=; if command -v skopeo >/dev/null 2>&1; then # one manifest GET; skopeo hashes it
    gp_dp=$(mktemp) && skopeo inspect --raw "docker://$1" > "$gp_dp" 2>/dev/null && gp_dg=$(skopeo manifest-digest "$gp_dp"); rm -f "$gp_dp"
  else # buildah 1.28 cannot inspect docker://: add it to a local list (reads the manifest only)
    gp_dp=gp-digest-probe-$$; buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
    if buildah manifest create "$gp_dp" >/dev/null 2>&1 && buildah manifest add "$gp_dp" "docker://$1" >/dev/null 2>&1; then
      gp_dg=$(buildah manifest inspect "$gp_dp" | sed -n 's/.*"digest": *"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
    fi; buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
  fi; case $gp_dg in sha256:*) printf '%s\n' "$gp_dg" ;; *) return 1 ;; esac
}
gp_retag() { # the refs gp_refs name image $1 (REPO@DIGEST), its digest unchanged
  gp_src=$1; if command -v skopeo >/dev/null 2>&1; then # copies no layer the registry has
    for gp_r in $gp_refs; do skopeo copy -q --preserve-digests "docker://$gp_src" "docker://$gp_r" || return 1; done; return 0
  fi # else pull it (layers only, nothing runs) and push it per tag: the blob-info cache keeps SRC's digest
  gp_iid=$(buildah pull -q "docker://$gp_src") || return 1
  for gp_r in $gp_refs; do
    buildah push --digestfile "$GP_DIGEST_FILE.retag" "$gp_iid" "docker://$gp_r" || return 1
    [ "$(cat "$GP_DIGEST_FILE.retag")" = "${gp_src#*@}" ] || { echo "gen-pipeline: $gp_r got $(cat "$GP_DIGEST_FILE.retag"), not ${gp_src#*@}" >&2; return 1; }
  done
}
