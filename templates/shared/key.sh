# gen-pipeline stage input keys (POSIX sh; find, sort, sha256sum, cut, readlink: busybox has them,
# no git needed). Mirrors src/plan/key.rs (content_lines, runtime_key). Inputs (environment):
# GP_KEY_STATIC (the plan's static digest), GP_KEY_PATHS (context paths, one a line),
# GP_KEY_IMAGES (external images, space-separated), GP_CONTEXT, GP_SKIP (false: never skip),
# GP_KEY_ALWAYS (true: the key cannot see everything; never skip), GP_BUILDER, GP_PUSH.
# gp_key_files DIR: the content lines of GP_KEY_PATHS under DIR, unsorted (`.git` never counts).
gp_key_files() (
  cd "$1" || exit 1
  printf '%s\n' "$GP_KEY_PATHS" | while IFS= read -r gp_p; do
    [ -n "$gp_p" ] || continue
    if [ ! -e "$gp_p" ] && [ ! -L "$gp_p" ]; then printf 'missing %s\n' "$gp_p"; continue; fi
    find "$gp_p" -name .git -prune -o -type d -exec printf 'd %s\n' {} + || exit 1
    find "$gp_p" -name .git -prune -o -type f -exec sha256sum {} + || exit 1
    find "$gp_p" -name .git -prune -o -type f -perm -100 -exec printf 'x %s\n' {} + || exit 1
    find "$gp_p" -name .git -prune -o -type l -print | while IFS= read -r gp_l; do
      printf 'l %s -> %s\n' "$gp_l" "$(readlink "$gp_l")"
    done
  done
)
# gp_digest_of REF: the manifest digest REF names in its registry; nothing (status 1) when it has none.
gp_digest_of() {
  gp_dg=""
  if [ "$GP_BUILDER" = buildah ]; then
    # buildah 1.28 cannot inspect docker:// directly: add it to a local list (reads the manifest only).
    gp_dp="gp-digest-probe-$$"
    buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
    if buildah manifest create "$gp_dp" >/dev/null 2>&1 && buildah manifest add "$gp_dp" "docker://$1" >/dev/null 2>&1; then
      gp_dg=$(buildah manifest inspect "$gp_dp" | sed -n 's/.*"digest": *"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
    fi
    buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
  else
    # `{{json …}}`: some buildx versions ignore a plain `{{.Manifest.Digest}}` template.
    gp_dg=$(docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' 2>/dev/null | tr -d '"[:space:]')
  fi
  case $gp_dg in sha256:*) printf '%s\n' "$gp_dg" ;; *) return 1 ;; esac
}
# gp_dirty: true when git sees uncommitted changes under the key's paths (no git: a CI checkout is clean).
gp_dirty() {
  command -v git >/dev/null 2>&1 || return 1
  ( cd "$GP_CONTEXT" && git rev-parse --is-inside-work-tree >/dev/null 2>&1 ) || return 1
  gp_st=$(cd "$GP_CONTEXT" && printf '%s\n' "$GP_KEY_PATHS" | while IFS= read -r gp_p; do
    [ -z "$gp_p" ] || git status --porcelain --untracked-files=all -- "$gp_p"
  done)
  [ -n "$gp_st" ]
}
# gp_key: sets gp_key to this job's key (64 hex), or to nothing when the job must build.
gp_key() {
  gp_key=""
  if [ "${GP_SKIP:-true}" != true ] || [ "${GP_PUSH:-true}" != true ] || [ -z "${GP_KEY_STATIC:-}" ]; then return 0; fi
  if [ "${GP_KEY_ALWAYS:-false}" = true ]; then echo "gen-pipeline: the key cannot see every input of $GP_REPOSITORY: building"; return 0; fi
  if gp_dirty; then echo "gen-pipeline: uncommitted changes in the build context: building, no key"; return 0; fi
  gp_kt=$(mktemp -d) || return 0
  printf 'gen-pipeline key %s\n' "$GP_KEY_STATIC" > "$gp_kt/key"
  if ! gp_key_files "$GP_CONTEXT" > "$gp_kt/files"; then
    echo "gen-pipeline: cannot hash the build context: building"; rm -rf "$gp_kt"; return 0
  fi
  LC_ALL=C sort -u "$gp_kt/files" >> "$gp_kt/key"
  for gp_i in ${GP_KEY_IMAGES:-}; do
    if ! gp_d=$(gp_digest_of "$gp_i"); then
      echo "gen-pipeline: cannot resolve $gp_i: building"; rm -rf "$gp_kt"; return 0
    fi
    printf 'image %s %s\n' "$gp_i" "$gp_d" >> "$gp_kt/key"
  done
  gp_key=$(sha256sum < "$gp_kt/key" | cut -c1-64)
  rm -rf "$gp_kt"
}
# gp_retag SRC REF...: point every REF at SRC (REPO@DIGEST) without building; the digest stays SRC's.
gp_retag() {
  gp_src=$1; shift
  if [ "$GP_BUILDER" = buildah ]; then
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
  else
    set -- $(for gp_r; do printf -- '--tag %s ' "$gp_r"; done)
    docker buildx imagetools create --prefer-index=false "$@" "$gp_src"
  fi
}
