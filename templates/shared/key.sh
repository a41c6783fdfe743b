# gen-pipeline stage input keys (POSIX sh; find, sort, sha256sum, cut, readlink: busybox has them,
# no git needed). Mirrors src/plan/key.rs (content_lines, runtime_key). Inputs (environment):
# GP_KEY_STATIC (the plan's static digest), GP_KEY_PATHS (context paths, one a line),
# GP_KEY_IMAGES (external images, space-separated), GP_CONTEXT, GP_SKIP (false: never skip),
# GP_KEY_ALWAYS (true: the key cannot see everything; never skip), GP_PUSH, GP_KEY_TRACE, GP_CHECK
# (true: a check pushes nothing, so it has no key image to retag: it always builds); gp_digest_of from
# buildx.sh or buildah.sh.
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
  if [ "${GP_SKIP:-true}" != true ] || [ "${GP_PUSH:-true}" != true ] || [ "${GP_CHECK:-false}" = true ] || [ -z "${GP_KEY_STATIC:-}" ]; then return 0; fi
  if [ "${GP_KEY_ALWAYS:-false}" = true ]; then echo "gen-pipeline: the key cannot see every input of $GP_REPOSITORY: building"; return 0; fi
  if gp_dirty; then
    echo "gen-pipeline: uncommitted changes in the build context: building, no key"
    printf '%s\n' "$gp_st" | head -n 5
    return 0
  fi
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
  # GP_KEY_TRACE=true prints what the key covers, to see why a job rebuilt.
  if [ "${GP_KEY_TRACE:-false}" = true ]; then sed 's/^/key input: /' "$gp_kt/key"; fi
  gp_key=$(sha256sum < "$gp_kt/key" | cut -c1-64)
  rm -rf "$gp_kt"
}
