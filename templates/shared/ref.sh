# gen-pipeline ref helpers: POSIX sh (dash, busybox ash), only printf tr cut sed. Mirrors src/refs.rs.
# gp_slug NAME [SHA]: GitLab's CI_COMMIT_REF_SLUG; with SHA, empty -> sha-<short sha> (or ref).
# gp_default_slug NAME: the default branch's slug (br-<slug> when reserved, main when empty).
# gp_tags KIND NAME SHA DEFAULT_BRANCH [PR]: image tags, one a line (KIND: branch|tag|pr|detached).
# gp_own_slug KIND NAME SHA DEFAULT_BRANCH [PR]: the slug the ref's tags and cache refs use, in its kind's
#   namespace: a branch's slug (br-<slug> when it is reserved -- latest, ref, all digits, br-*, tag-*,
#   pr-*, sha-* -- or, for another branch, the default branch's), tag-<slug>, pr-<n>, sha-<short>.
# gp_cache REPO STAGE_PART KIND NAME SHA DEFAULT_BRANCH [PR [WRITE_ON_TAG WRITE_ON_PR]]: "from REF" lines, then
#   "to REF"; REF is REPO:STAGE_PART.SLUG (neither part contains a dot).
_gp_K=$(printf '\342\204\252')
_gp_I=$(printf '\304\260')
_gp_nl='
'
gp_full_sha() {
  case $1 in '' | *[!0123456789abcdefABCDEF]*) return 0 ;; esac
  [ "${#1}" -le 64 ] || return 0
  printf '%s\n' "$1" | LC_ALL=C tr '[:upper:]' '[:lower:]'
}
gp_short_sha() {
  gp_full_sha "$1" | LC_ALL=C cut -c1-7
}
gp_slug() {
  _gp_s=$(printf '%s' "$1" | LC_ALL=C sed "s/$_gp_K/k/g;s/$_gp_I/i-/g;y/ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz/" \
    | LC_ALL=C tr -d '\200-\277' | LC_ALL=C tr -c 'a-z0-9' '-' | LC_ALL=C sed 's/^\(.\{63\}\).*/\1/;s/^-*//;s/-*$//')
  if [ -z "$_gp_s" ] && [ $# -gt 1 ]; then
    _gp_s=$(gp_short_sha "$2")
    if [ -n "$_gp_s" ]; then _gp_s=sha-$_gp_s; else _gp_s=ref; fi
  fi
  printf '%s\n' "$_gp_s"
}
_gp_reserved() {
  case $1 in
  latest | ref | br-* | tag-* | pr-* | sha-*) return 0 ;;
  '' | *[!0123456789]*) return 1 ;;
  esac
  return 0
}
_gp_prefixed() {
  printf '%s%s\n' "$1" "$2" | LC_ALL=C cut -c1-63 | LC_ALL=C sed 's/-*$//'
}
gp_default_slug() {
  _gp_d=$(gp_slug "$1")
  [ -n "$_gp_d" ] || _gp_d=main
  if _gp_reserved "$_gp_d"; then _gp_d=$(_gp_prefixed br- "$_gp_d"); fi
  printf '%s\n' "$_gp_d"
}
gp_own_slug() {
  case $1 in
  branch)
    _gp_d=$(gp_default_slug "$4")
    if [ "$2" = "$4" ]; then
      _gp_o=$_gp_d
    else
      _gp_o=$(gp_slug "$2" "$3")
      if _gp_reserved "$_gp_o" || [ "$_gp_o" = "$_gp_d" ]; then
        _gp_o=$(_gp_prefixed br- "$_gp_o")
        if [ "$_gp_o" = "$_gp_d" ]; then
          _gp_o=$(gp_short_sha "$3")
          if [ -n "$_gp_o" ] && [ "br-sha-$_gp_o" != "$_gp_d" ]; then _gp_o=br-sha-$_gp_o
          elif [ "$_gp_d" != br-ref ]; then _gp_o=br-ref
          else _gp_o=br-br-ref; fi
        fi
      fi
    fi ;;
  tag) _gp_o=$(_gp_prefixed tag- "$(gp_slug "$2" "$3")") ;;
  pr)
    case ${5:-} in
    '' | *[!0123456789]*) _gp_o=$(_gp_prefixed pr- "$(gp_slug '' "$3")") ;;
    *) _gp_o=pr-$5 ;;
    esac ;;
  *) _gp_o=$(gp_slug '' "$3") ;;
  esac
  printf '%s\n' "$_gp_o"
}
_gp_add() {
  [ -n "$1" ] || return 0
  case "$_gp_nl$_gp_t" in *"$_gp_nl$1$_gp_nl"*) return 0 ;; esac
  _gp_t="$_gp_t$1$_gp_nl"
}
gp_tags() {
  _gp_t=
  _gp_st=$(gp_full_sha "$3")
  [ -z "$_gp_st" ] || _gp_st=sha-$_gp_st
  case $1 in
  branch)
    _gp_add "$(gp_own_slug branch "$2" "$3" "$4")"
    _gp_add "$_gp_st"
    [ "$2" != "$4" ] || _gp_add latest ;;
  tag)
    _gp_v=$(printf '%s' "$2" | LC_ALL=C tr '\n' ' ' | LC_ALL=C sed -nE \
      's/^v?(((0|[1-9][0-9]*)\.(0|[1-9][0-9]*))\.(0|[1-9][0-9]*))(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/\1\6\8 \2 \3 \6/p')
    if [ -n "$_gp_v" ]; then
      _gp_f=${_gp_v%% *}; _gp_v=${_gp_v#* }
      _gp_f=$(printf '%s\n' "$_gp_f" | LC_ALL=C tr + - | LC_ALL=C cut -c1-128)
      _gp_add "$_gp_f"
      if [ -z "${_gp_v#* * }" ]; then _gp_add "${_gp_v%% *}"; _gp_v=${_gp_v#* }; _gp_add "${_gp_v%% *}"; fi
    else
      _gp_v=$(printf '%s' "$2" | LC_ALL=C tr -d '\200-\277' | LC_ALL=C tr -c 'A-Za-z0-9_.-' '-' \
        | LC_ALL=C sed 's/^[.-]*//' | LC_ALL=C cut -c1-128)
      case $_gp_v in
      '' | *[!abcdefghijklmnopqrstuvwxyz0123456789-]*) _gp_add "$_gp_v" ;;
      *) _gp_add "$(printf 'tag-%s\n' "$_gp_v" | LC_ALL=C cut -c1-128)" ;;
      esac
    fi ;;
  pr)
    case ${5:-} in '' | *[!0123456789]*) ;; *) _gp_add "pr-$5" ;; esac ;;
  detached)
    _gp_add "$_gp_st" ;;
  esac
  [ -n "$_gp_t" ] || _gp_add "$(gp_own_slug "$1" "$2" "$3" "$4" "${5:-}")"
  printf '%s' "$_gp_t"
}
gp_cache() {
  _gp_own=$(gp_own_slug "$3" "$4" "$5" "$6" "${7:-}")
  _gp_def=$(gp_default_slug "$6")
  _gp_t=; _gp_to=
  case $3 in
  branch) _gp_to=$_gp_own ;;
  tag) [ "${8:-}" != true ] || _gp_to=$_gp_own ;;
  pr) [ "${9:-}" != true ] || _gp_to=$_gp_own ;;
  esac
  [ -z "$_gp_to" ] || _gp_add "from $1:$2.$_gp_to"
  [ "$3" != pr ] || _gp_add "from $1:$2.$(gp_own_slug branch "$4" "$5" "$6")"
  _gp_add "from $1:$2.$_gp_def"
  [ -z "$_gp_to" ] || _gp_add "to $1:$2.$_gp_to"
  printf '%s' "$_gp_t"
}
