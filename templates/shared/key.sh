# gen-pipeline stage input keys (POSIX sh; busybox find/sort/sha256sum, no git needed): mirrors src/plan/key.rs.
gp_key_files() ( cd "$1" || exit 1 # the content lines of GP_KEY_PATHS under $1, unsorted (.git never counts)
  printf '%s\n' "$GP_KEY_PATHS" | while IFS= read -r gp_p; do
    if [ -z "$gp_p" ]; then continue; elif [ ! -e "$gp_p" ] && [ ! -L "$gp_p" ]; then printf 'missing %s\n' "$gp_p"; continue; fi
    find "$gp_p" -name .git -prune -o -type d -exec printf 'd %s\n' {} + -o -type f -exec sha256sum {} + -perm -100 -exec printf 'x %s\n' {} + || exit 1
    find "$gp_p" -name .git -prune -o -type l -print | while IFS= read -r gp_l; do printf 'l %s -> %s\n' "$gp_l" "$(readlink "$gp_l")"; done
  done
)
gp_key() { # gp_key: this job's key (64 hex), or nothing when the job must build
  gp_key=; gp_st=; if [ "${GP_SKIP:-true}" != true ] || [ "${GP_PUSH:-true}" != true ] || [ "${GP_CHECK:-false}" = true ] || [ -z "${GP_KEY_STATIC:-}" ]; then return 0; fi
  if [ "${GP_KEY_ALWAYS:-false}" = true ]; then echo "gen-pipeline: the key cannot see every input of $GP_REPOSITORY: building"; return 0; fi
  if command -v git >/dev/null 2>&1; then # one git call for every path; outside a work tree git fails: no check
    gp_st=$(cd "$GP_CONTEXT" && set -f && IFS=$_gp_nl && set -- && for gp_p in $GP_KEY_PATHS; do set -- "$@" "$gp_p"; done && [ $# -gt 0 ] && git status --porcelain --untracked-files=all -- "$@" 2>/dev/null) || gp_st=
  fi
  if [ -n "$gp_st" ]; then echo "gen-pipeline: uncommitted changes in the build context: building, no key"; printf '%s\n' "$gp_st" | head -n 5; return 0; fi
  gp_kt=$(mktemp -d) || return 0; if ! gp_key_files "$GP_CONTEXT" > "$gp_kt/files"; then echo "gen-pipeline: cannot hash the build context: building"; rm -rf "$gp_kt"; return 0; fi
  { printf 'gen-pipeline key %s\n' "$GP_KEY_STATIC"; LC_ALL=C sort -u "$gp_kt/files"; } > "$gp_kt/key"
  for gp_i in ${GP_KEY_IMAGES:-}; do # each image resolved once per run
    case ${_gp_dc:-} in *"$_gp_nl$gp_i "*) gp_d=${_gp_dc#*"$_gp_nl$gp_i "}; gp_d=${gp_d%%"$_gp_nl"*} ;;
    *) gp_d=$(gp_digest_of "$gp_i") || { echo "gen-pipeline: cannot resolve $gp_i: building"; rm -rf "$gp_kt"; return 0; }; _gp_dc="${_gp_dc:-}$_gp_nl$gp_i $gp_d" ;; esac
    printf 'image %s %s\n' "$gp_i" "$gp_d" >> "$gp_kt/key"
  done
  [ "${GP_KEY_TRACE:-false}" != true ] || sed 's/^/key input: /' "$gp_kt/key" # why a job rebuilt
  gp_key=$(sha256sum < "$gp_kt/key") && gp_key=${gp_key%% *}; rm -rf "$gp_kt"
}
gp_reuse() { # [LABEL] the key has an image: gp_kd, its digest, gets the tags gp_refs (or exit 1); else push the key tag too
  [ -n "$gp_key" ] || return 1; echo "key=$gp_key"
  if ! gp_probe "$GP_REPOSITORY:key-$gp_key" push; then gp_refs="$gp_refs $GP_REPOSITORY:key-$gp_key"; return 1; fi; gp_kd=$gp_dg
  echo "gen-pipeline: ${1:-}$GP_REPOSITORY:key-$gp_key is $gp_kd: tagging it, no build"
  gp_retag "$GP_REPOSITORY@$gp_kd" || exit 1
}
