# gen-pipeline ref policy (POSIX sh): mirrors src/refs.rs; see templates/shared/README.md.
_gp_nl=$(printf '\nx'); _gp_nl=${_gp_nl%x}
_gp_sha() { # $1 -> _gp_f (full sha, lower case) and _gp_h (sha-<short>, else ref)
  _gp_f=; _gp_h=ref; case $1 in '' | *[!0123456789abcdefABCDEF]*) return 0 ;; esac; [ "${#1}" -le 64 ] || return 0
  case $1 in *[ABCDEF]*) _gp_f=$(printf '%s\n' "$1" | LC_ALL=C tr ABCDEF abcdef) ;; *) _gp_f=$1 ;; esac
  case $_gp_f in ???????*) _gp_h=sha-${_gp_f%"${_gp_f#???????}"} ;; *) _gp_h=sha-$_gp_f ;; esac
}
_gp_slug() { # $1 -> _gp_s, GitLab's CI_COMMIT_REF_SLUG; with $2 (a sha), empty -> _gp_h
  case $1 in *[!abcdefghijklmnopqrstuvwxyz0123456789-]* | -* | *-) # Ruby's downcase: KELVIN SIGN -> k, I WITH DOT -> i + a mark
    _gp_ki=${_gp_ki:-$(printf 's/\342\204\252/k/g;s/\304\260/i-/g')}; _gp_s=$(printf '%s' "$1" | LC_ALL=C sed "$_gp_ki;y/ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz/" \
    | LC_ALL=C tr -d '\200-\277' | LC_ALL=C tr -c 'a-z0-9' '-') ;; *) _gp_s=$1 ;; esac
  _gp_pre '' "$_gp_s"; _gp_s=$_gp_p; while :; do case $_gp_s in -*) _gp_s=${_gp_s#-} ;; *) break ;; esac; done
  if [ -z "$_gp_s" ] && [ $# -gt 1 ]; then _gp_sha "$2"; _gp_s=$_gp_h; fi
}
_gp_reserved() { case $1 in latest | ref | br-* | tag-* | pr-* | sha-*) return 0 ;; '' | *[!0123456789]*) return 1 ;; esac; }
_gp_pre() { _gp_p=$1$2; while [ "${#_gp_p}" -gt 63 ] || [ "${_gp_p%-}" != "$_gp_p" ]; do _gp_p=${_gp_p%?}; done; } # 63 chars, no final -
_gp_add() { case "$_gp_nl$_gp_t" in *"$_gp_nl$1$_gp_nl"*) ;; *) [ -z "$1" ] || _gp_t="$_gp_t$1$_gp_nl" ;; esac; }
gp_ref() { # once a run: gp_own (the ref's slug in its namespace), gp_tagl (tags), gp_cr/gp_cw (cache slugs read/written)
  gp_ref_done=1; _gp_sha "$GP_SHA"; _gp_st=${_gp_f:+sha-$_gp_f}; _gp_slug "$GP_DEFAULT_BRANCH"; _gp_d=${_gp_s:-main}
  if _gp_reserved "$_gp_d"; then _gp_pre br- "$_gp_d"; _gp_d=$_gp_p; fi; _gp_n=${GP_REF_SLUG:-}; if [ -z "$_gp_n" ]; then _gp_slug "$GP_REF_NAME" "$GP_SHA"; _gp_n=$_gp_s; fi
  _gp_b=$_gp_d; if [ "$GP_REF_NAME" != "$GP_DEFAULT_BRANCH" ]; then # the branch's slug, out of other namespaces
    _gp_b=$_gp_n; if _gp_reserved "$_gp_b" || [ "$_gp_b" = "$_gp_d" ]; then _gp_pre br- "$_gp_b"; _gp_b=$_gp_p; fi
    if [ "$_gp_b" != "$_gp_d" ]; then :; elif [ "$_gp_h" != ref ] && [ "br-$_gp_h" != "$_gp_d" ]; then _gp_b=br-$_gp_h
    elif [ "$_gp_d" != br-ref ]; then _gp_b=br-ref; else _gp_b=br-br-ref; fi
  fi; _gp_t=; gp_cw=
  case $GP_REF_KIND in
  branch) gp_own=$_gp_b; gp_cw=$gp_own; _gp_add "$gp_own"; _gp_add "$_gp_st"; [ "$GP_REF_NAME" != "$GP_DEFAULT_BRANCH" ] || _gp_add latest ;;
  tag) _gp_pre tag- "$_gp_n"; gp_own=$_gp_p; [ "${GP_CACHE_ON_TAG:-false}" != true ] || gp_cw=$gp_own
    _gp_v=$(printf '%s' "$GP_REF_NAME" | LC_ALL=C tr -d '\200-\277' | LC_ALL=C tr -c 'A-Za-z0-9_.+-' '~' | LC_ALL=C sed -E '
      s/^v?(((0|[1-9][0-9]*)\.(0|[1-9][0-9]*))\.(0|[1-9][0-9]*))(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/\1\6\8 \2 \3 \6/
      t s
      s/[~+]/-/g;s/^[.-]*//;s/^(.{128}).*/\1/;s/^[a-z0-9-]+$/tag-&/;s/^(.{128}).*/\1/;b
      :s
      s/\+/-/g;s/^([^ ]{128})[^ ]*/\1/')
    case $_gp_v in # semver: the version (+ -> -), then major.minor and major unless a pre-release; else the name
    *' '*) _gp_add "${_gp_v%% *}"; _gp_v=${_gp_v#* }
      if [ -z "${_gp_v#* * }" ]; then _gp_add "${_gp_v%% *}"; _gp_v=${_gp_v#* }; _gp_add "${_gp_v%% *}"; fi ;;
    *) _gp_add "$_gp_v" ;; esac ;;
  pr) case ${GP_PR:-} in '' | *[!0123456789]*) _gp_pre pr- "$_gp_h"; gp_own=$_gp_p ;; *) gp_own=pr-$GP_PR; _gp_add "$gp_own" ;; esac
    [ "${GP_CACHE_ON_PR:-false}" != true ] || gp_cw=$gp_own ;;
  detached) gp_own=$_gp_h; _gp_add "$_gp_st" ;;
  *) gp_own=$_gp_h ;;
  esac; [ -n "$_gp_t" ] || _gp_add "$gp_own"
  gp_tagl="$_gp_t ${GP_EXTRA_TAGS:-}"; _gp_t=; _gp_add "$gp_cw"; [ "$GP_REF_KIND" != pr ] || _gp_add "$_gp_b"
  _gp_add "$_gp_d"; gp_cr=$_gp_t; [ "${GP_PUSH:-true}" = true ] || gp_cw=
}
gp_init() { # the job's image refs (gp_refs), cache refs read (gp_reads) and written (gp_to)
  [ -n "${gp_ref_done:-}" ] || gp_ref; gp_refs=; gp_reads=; gp_to=${gp_cw:+$GP_CACHE_REPO:$GP_CACHE_KEY.$gp_cw}
  for _gp_x in $gp_tagl; do gp_refs="$gp_refs $GP_REPOSITORY:$_gp_x"; done
  for _gp_x in $gp_cr; do gp_reads="$gp_reads $GP_CACHE_REPO:$GP_CACHE_KEY.$_gp_x"; done
}
