# gen-pipeline, the index of a multi-platform image (POSIX sh; only in pipelines with `runners:`:
# the merge jobs of GitLab, Drone and Woodpecker (GitHub's merge steps inline the same few lines);
# the builder's registry part, buildx.sh or buildah.sh, is above). Mirrors plan::platforms::index_key.
# Inputs: GP_BUILDER, GP_REPOSITORY, GP_SKIP, GP_DIGEST_FILE, and gp_refs (the refs the index gets:
# the ref's tags).
# gp_index_key REPOSITORY@DIGEST...: gp_ikey, the index key of these per-platform images in this
# order: sha256 of the lines `gen-pipeline index key 1` and `manifest <digest>` per image. An
# index is a function of its manifests (their platforms come from their configs; which tool wrote
# it does not matter), so the same manifests in the same order, which is what an unchanged rerun
# hands on (every per-platform job reused its key image), make the same key; a rebuilt platform
# hands on a new digest, so a new key. None (a new index every run) with `skip: false`
# (GP_SKIP=false) and with buildah without skopeo (buildah 1.28 reads an index's platform
# manifest, never the index's own digest, so it could not find the index again).
gp_index_key() {
  gp_ikey=; [ "${GP_SKIP:-true}" = true ] || return 0
  [ "$GP_BUILDER" != buildah ] || command -v skopeo >/dev/null 2>&1 || return 0
  gp_ikey=$({ echo 'gen-pipeline index key 1'; for gp_s; do printf 'manifest %s\n' "${gp_s##*@}"; done; } | sha256sum | cut -c1-64)
}
# gp_index_tag REPOSITORY@DIGEST: the refs gp_refs name that index, its digest unchanged (the
# platform images are in the repository already: only the index is written). buildx: a carbon
# copy (gp_retag); buildah: skopeo copies the index only (`--multi-arch index-only`).
gp_index_tag() {
  if [ "$GP_BUILDER" != buildah ]; then gp_retag "$1"; return; fi
  gp_login || return 1
  for gp_r in $gp_refs; do skopeo copy -q --multi-arch index-only --preserve-digests "docker://$1" "docker://$gp_r" || return 1; done
}
# gp_index REPOSITORY@DIGEST...: when `<repository>:key-<index key>` exists, that index gets the
# refs gp_refs (no new index); else one new index of the images, pushed under gp_refs and the key
# tag (last: a key tag only ever names a complete push). buildx: `docker buildx imagetools
# create`; buildah: `manifest create`, `add` per image, one `manifest push --all` to the first
# ref, then the index alone (`manifest push` without `--all`) to every other ref, each checked to
# have the first one's digest. The index digest goes to GP_DIGEST_FILE.
gp_index() {
  gp_index_key "$@"
  if [ -n "$gp_ikey" ] && gp_kd=$(gp_digest_of "$GP_REPOSITORY:key-$gp_ikey"); then
    echo "gen-pipeline: $GP_REPOSITORY:key-$gp_ikey is $gp_kd, an index of the same images: tagging it, no new index"
    gp_index_tag "$GP_REPOSITORY@$gp_kd" || return 1; printf '%s\n' "$gp_kd" > "$GP_DIGEST_FILE"; return 0
  fi
  [ -z "$gp_ikey" ] || { echo "index key=$gp_ikey"; gp_refs="$gp_refs $GP_REPOSITORY:key-$gp_ikey"; }
  if [ "$GP_BUILDER" = buildah ]; then
    gp_login || return 1; gp_ml="gp-merge-$$"; buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true; buildah manifest create "$gp_ml" >/dev/null || return 1
    for gp_s; do buildah manifest add "$gp_ml" "docker://$gp_s" >/dev/null || return 1; done
    gp_all=--all; : > "$GP_DIGEST_FILE"
    for gp_r in $gp_refs; do
      buildah manifest push $gp_all --digestfile "$GP_DIGEST_FILE.push" "$gp_ml" "docker://$gp_r" || return 1; gp_all=
      if [ ! -s "$GP_DIGEST_FILE" ]; then cp "$GP_DIGEST_FILE.push" "$GP_DIGEST_FILE"
      elif [ "$(cat "$GP_DIGEST_FILE.push")" != "$(cat "$GP_DIGEST_FILE")" ]; then
        echo "gen-pipeline: $gp_r got $(cat "$GP_DIGEST_FILE.push"), not $(cat "$GP_DIGEST_FILE")" >&2; return 1
      fi
    done
    buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true
  else
    gp_first=; for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; gp_first=${gp_first:-$gp_r}; done
    docker buildx imagetools create "$@" || return 1; gp_digest_of "$gp_first" > "$GP_DIGEST_FILE" || return 1
  fi
  case $(cat "$GP_DIGEST_FILE") in sha256:*) ;; *) echo "gen-pipeline: no index digest for $GP_REPOSITORY" >&2; return 1 ;; esac
}
