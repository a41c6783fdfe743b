# gen-pipeline stage input keys (POSIX sh; busybox find/sort/sha256sum, no git needed): mirrors src/plan/key.rs.
gp_key_files() ( cd "$1" || exit 1; set -f; IFS=$_gp_nl; set -- # the content lines of GP_KEY_PATHS under $1, unsorted (.git never counts)
  for gp_p in $GP_KEY_PATHS; do if [ -e "$gp_p" ] || [ -L "$gp_p" ]; then set -- "$@" "$gp_p"; else printf 'missing %s\n' "$gp_p"; fi; done
  [ $# -gt 0 ] || exit 0 # one find for every path; symbolic links through one sh, started only when there are some
  # shellcheck disable=SC2016
  find "$@" -name .git -prune -o -type d -exec printf 'd %s\n' {} + -o -type f -exec sha256sum {} + -perm -100 -exec printf 'x %s\n' {} + \
    -o -type l -exec sh -c 'for l do printf "l %s -> %s\n" "$l" "$(readlink "$l")"; done' gp-links {} +
)
# _gp_mkd VAR: VAR names a private scratch directory, the job's (GP_DIGEST_FILE.d: made once, kept with the job's state,
# no process when the pipeline made it) or else a temp dir; _gp_rmd DIR removes a temp dir of _gp_mkd, never the job's.
_gp_mkd() { if [ -n "${GP_DIGEST_FILE:-}" ]; then eval "$1=\$GP_DIGEST_FILE.d"; [ -d "$GP_DIGEST_FILE.d" ] || mkdir -m 700 "$GP_DIGEST_FILE.d"; else eval "$1=\$(mktemp -d)"; fi; }
_gp_rmd() { [ "$1" = "${GP_DIGEST_FILE:-}.d" ] || rm -rf "$1"; }
gp_key() { # gp_key: this job's key (64 hex), or nothing when the job must build
  gp_key=; gp_st=; if [ "${GP_SKIP:-true}" != true ] || [ "${GP_PUSH:-true}" != true ] || [ "${GP_CHECK:-false}" = true ] || [ -z "${GP_KEY_STATIC:-}" ]; then return 0; fi
  if [ "${GP_KEY_ALWAYS:-false}" = true ]; then echo "gen-pipeline: the key cannot see every input of $GP_REPOSITORY: building"; return 0; fi
  if command -v git >/dev/null 2>&1; then # one git call for every path; outside a work tree git fails: no check
    gp_st=$(cd "$GP_CONTEXT" && set -f && IFS=$_gp_nl && set -- && for gp_p in $GP_KEY_PATHS; do set -- "$@" "$gp_p"; done && [ $# -gt 0 ] && git status --porcelain --untracked-files=all -- "$@" 2>/dev/null) || gp_st=
  fi
  if [ -n "$gp_st" ]; then echo "gen-pipeline: uncommitted changes in the build context: building, no key"; printf '%s\n' "$gp_st" | head -n 5; return 0; fi
  _gp_mkd gp_kt || return 0; if ! gp_key_files "$GP_CONTEXT" > "$gp_kt/files"; then echo "gen-pipeline: cannot hash the build context: building"; _gp_rmd "$gp_kt"; return 0; fi
  { printf 'gen-pipeline key %s\n' "$GP_KEY_STATIC"; LC_ALL=C sort -u "$gp_kt/files"; } > "$gp_kt/key"
  for gp_i in ${GP_KEY_IMAGES:-}; do # each image resolved once per run
    case ${_gp_dc:-} in *"$_gp_nl$gp_i "*) gp_d=${_gp_dc#*"$_gp_nl$gp_i "}; gp_d=${gp_d%%"$_gp_nl"*} ;;
    *) gp_probe "$gp_i" || { echo "gen-pipeline: cannot resolve $gp_i: building"; _gp_rmd "$gp_kt"; return 0; }; gp_d=$gp_dg; _gp_dc="${_gp_dc:-}$_gp_nl$gp_i $gp_d" ;; esac
    printf 'image %s %s\n' "$gp_i" "$gp_d" >> "$gp_kt/key"
  done
  [ "${GP_KEY_TRACE:-false}" != true ] || sed 's/^/key input: /' "$gp_kt/key" # why a job rebuilt
  gp_key=$(sha256sum < "$gp_kt/key") && gp_key=${gp_key%% *}; _gp_rmd "$gp_kt"
}
gp_reuse() { # [LABEL] the key has an image: gp_kd, its digest, gets the tags gp_refs (or exit 1); else push the key tag too
  [ -n "$gp_key" ] || return 1; echo "key=$gp_key"
  if ! gp_probe "$GP_REPOSITORY:key-$gp_key" push; then gp_refs="$gp_refs $GP_REPOSITORY:key-$gp_key"; return 1; fi; gp_kd=$gp_dg
  echo "gen-pipeline: ${1:-}$GP_REPOSITORY:key-$gp_key is $gp_kd: tagging it, no build"
  gp_retag "$GP_REPOSITORY@$gp_kd" || exit 1
}
