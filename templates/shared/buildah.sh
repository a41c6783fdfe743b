# gen-pipeline registry probe and retag, buildah flavor (POSIX sh): the registry's HTTP API through curl when the
# job image has curl, else skopeo when present, else buildah alone. See templates/shared/README.md ("Registry API").
gp_login() { # GitLab: the job's `buildah login`, once, before the first buildah/skopeo command (a skipped job runs none)
  [ -n "${GP_REGISTRY:-}" ] && [ -z "${_gp_in:-}" ] || return 0
  printf '%s' "${GP_LOGIN_PASSWORD:-}" | buildah login --username "${GP_LOGIN_USER:-}" --password-stdin "$GP_REGISTRY" || return 1; _gp_in=1
}
# The API session: a private directory (_gp_td, key.sh's _gp_mkd: the job's GP_DIGEST_FILE.d, else a temp dir)
# holding the auth config curl reads (-K, never a command line) for the host and scope in _gp_ak, the last
# manifest read (m, its media type in _gp_mt, its digest in _gp_md). Closing empties the files with credentials.
_gp_open() { [ -n "${_gp_td:-}" ] || { _gp_mkd _gp_td && : > "$_gp_td/auth"; } || { _gp_td=; return 1; }; }
_gp_close() { [ -z "${_gp_td:-}" ] || { : > "$_gp_td/auth"; _gp_forget_token; _gp_rmd "$_gp_td"; }; _gp_td=; _gp_ak=; _gp_md=; }
_gp_forget_token() { : > "$_gp_td/ta"; : > "$_gp_td/t"; } # built-ins: no process
# _gp_quiet: no trace (set -x) from here (credentials), until _gp_loud
_gp_quiet() { case $- in *x*) set +x; _gp_xq=1 ;; *) _gp_xq= ;; esac; }; _gp_loud() { [ -z "${_gp_xq:-}" ] || set -x; }
_gp_ref() { # $1 (host/repo[:tag][@digest]) -> _gp_rh (registry), _gp_api (API host), _gp_rn (repository), _gp_rr (reference)
  _gp_rn=${1%%@*}; _gp_rr=${1#"$_gp_rn"}; _gp_rr=${_gp_rr#@}
  case ${_gp_rn##*/} in *:*) _gp_rr=${_gp_rr:-${_gp_rn##*:}}; _gp_rn=${_gp_rn%:*} ;; esac; _gp_rr=${_gp_rr:-latest}
  _gp_rh=${_gp_rn%%/*}; case $_gp_rh in *.* | *:* | localhost) [ "$_gp_rh" = "$_gp_rn" ] || _gp_rn=${_gp_rn#*/} ;; *) _gp_rh=docker.io ;; esac
  _gp_api=$_gp_rh; case $_gp_rh in docker.io | index.docker.io) _gp_api=registry-1.docker.io; case $_gp_rn in */*) ;; *) _gp_rn=library/$_gp_rn ;; esac ;; esac
}
_gp_ca() { # $1 host -> _gp_ca, its CA as containers tools find it (else the system's); status 1 with client certs (tools only)
  _gp_ca=; for _gp_cd in /etc/containers/certs.d /etc/docker/certs.d; do
    for _gp_cf in "$_gp_cd/$1"/*.cert "$_gp_cd/$1"/*.key; do [ ! -e "$_gp_cf" ] || return 1; done
    if [ -z "$_gp_ca" ] && [ -f "$_gp_cd/$1/ca.crt" ]; then _gp_ca=$_gp_cd/$1/ca.crt; fi
  done
}
_gp_cred() { # base64(user:password) for registry $1: GitLab's job credentials for GP_REGISTRY, else the auth file's entry
  if [ "$1" = "${GP_REGISTRY:-}" ] && [ -n "${GP_LOGIN_USER:-}" ]; then # a here-document: no trace (set -x) shows it
    tr -d '\n' <<GP_CRED | base64 | tr -d '\n'
$GP_LOGIN_USER:${GP_LOGIN_PASSWORD:-}
GP_CRED
  elif [ -f "${REGISTRY_AUTH_FILE:-}" ]; then # containers-auth.json: {"auths": {"HOST": {"auth": "base64(user:password)"}}}
    _gp_ce=; _gp_cr=$1; while :; do case $_gp_cr in *.*) _gp_ce="$_gp_ce${_gp_cr%%.*}\."; _gp_cr=${_gp_cr#*.} ;; *) break ;; esac; done
    tr -d ' \t\r\n' < "$REGISTRY_AUTH_FILE" | sed -n "s/.*\"$_gp_ce$_gp_cr\":{[^}]*\"auth\":\"\([^\"]*\)\".*/\1/p" # the host's dots escaped
  fi
}
_gp_basic() { # the curl config for Basic auth with _gp_rh's credentials into $1; status 1 when there are none. Built-ins
  _gp_quiet # (echo), untraced, write them: on no command line, in no trace
  case $_gp_rh:${GP_LOGIN_USER:-}${GP_LOGIN_PASSWORD:-} in "${GP_REGISTRY:-}:"*[\"\\"$_gp_nl"]* | "${GP_REGISTRY:-}:") ;; "${GP_REGISTRY:-}:"*)
    echo "user = \"$GP_LOGIN_USER:${GP_LOGIN_PASSWORD:-}\"" > "$1"; _gp_loud; return 0 ;; # the job's credentials as they are (no \ nor ")
  esac; _gp_cv=$(_gp_cred "$_gp_rh") && [ -n "$_gp_cv" ] || { _gp_cv=; : > "$1"; _gp_loud; return 1; } # else base64 from _gp_cred
  echo "header = \"Authorization: Basic $_gp_cv\"" > "$1"; _gp_cv=; _gp_loud
}
# _gp_line FILE: its lines, joined, in _gp_hl (the WWW-Authenticate one, from its value, when FILE has headers); built-ins
_gp_line() { _gp_ret=${_gp_ret:-$(printf '\r')}; _gp_tj=; while IFS= read -r _gp_hl || [ -n "$_gp_hl" ]; do _gp_hl=${_gp_hl%"$_gp_ret"}
  case ${2:-j}/$_gp_hl in h/[Ww][Ww][Ww]-[Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ee]:*) _gp_tj=${_gp_hl#*:}; break ;; h/*) ;; *) _gp_tj=$_gp_tj$_gp_hl ;; esac
  done < "$1"; _gp_hl=$_gp_tj; _gp_tj=; while :; do case $_gp_hl in ' '*) _gp_hl=${_gp_hl# } ;; *) return 0 ;; esac; done; }
_gp_jstr() { # $1: the JSON string member "$1" of _gp_hl (the first), in _gp_jv; status 1 when none
  case $_gp_hl in *\""$1"\"*) _gp_jv=${_gp_hl#*\""$1"\"} ;; *) return 1 ;; esac; _gp_jv=${_gp_jv#"${_gp_jv%%[! ]*}"}
  case $_gp_jv in :*) _gp_jv=${_gp_jv#:}; _gp_jv=${_gp_jv#"${_gp_jv%%[! ]*}"} ;; *) return 1 ;; esac
  case $_gp_jv in \"*) _gp_jv=${_gp_jv#\"}; _gp_jv=${_gp_jv%%\"*} ;; *) return 1 ;; esac
}
_gp_auth() { # answer the challenge in $_gp_td/h for _gp_rh and scope _gp_sc: Basic, or a Bearer token (anonymous without credentials)
  _gp_line "$_gp_td/h" h; _gp_wa=$_gp_hl; _gp_wr=; _gp_ws= # built-ins but the token's curl; the token never traced
  case $_gp_wa in
  [Bb][Aa][Ss][Ii][Cc]*) _gp_basic "$_gp_td/auth" ;;
  [Bb][Ee][Aa][Rr][Ee][Rr]*) case $_gp_wa in *[Rr][Ee][Aa][Ll][Mm]=\"*) _gp_wr=${_gp_wa#*[Rr][Ee][Aa][Ll][Mm]=\"}; _gp_wr=${_gp_wr%%\"*} ;; esac
    case $_gp_wa in *[Ss][Ee][Rr][Vv][Ii][Cc][Ee]=\"*) _gp_ws=${_gp_wa#*[Ss][Ee][Rr][Vv][Ii][Cc][Ee]=\"}; _gp_ws=${_gp_ws%%\"*} ;; esac; [ -n "$_gp_wr" ] || return 1
    case $_gp_wr in *\?*) _gp_wr="$_gp_wr&" ;; *) _gp_wr="$_gp_wr?" ;; esac; _gp_wr="$_gp_wr${_gp_ws:+service=$_gp_ws&}scope=$_gp_sc"
    _gp_ws=${_gp_wr#*://}; _gp_ca "${_gp_ws%%/*}" || return 1; _gp_basic "$_gp_td/ta" || : # no credentials: an anonymous token
    _gp_ws=$(curl -sS -K "$_gp_td/ta" -o "$_gp_td/t" -w '%{http_code}' ${_gp_ca:+--cacert "$_gp_ca"} "$_gp_wr" 2>/dev/null) || return 1
    [ "$_gp_ws" = 200 ] || return 1; _gp_quiet; _gp_line "$_gp_td/t"; : > "$_gp_td/auth" # the token: "token", else "access_token"
    if _gp_jstr token || _gp_jstr access_token; then [ -z "$_gp_jv" ] || echo "header = \"Authorization: Bearer $_gp_jv\"" > "$_gp_td/auth"; fi
    _gp_hl=; _gp_jv=; _gp_loud ;;
  *) return 1 ;;
  esac; _gp_forget_token; [ -s "$_gp_td/auth" ]
}
_gp_req() { # METHOD [curl args…, URLs on _gp_api]: one curl, the auth challenge answered once; _gp_w: STATUS|TYPE|DIGEST a transfer
  case $1 in HEAD) shift; set -- -I "$@" ;; *) set -- -X "$@" ;; esac # the first credentials: Basic if the host has some
  if [ "${_gp_ak:-}" != "$_gp_rh $_gp_sc" ]; then _gp_ak="$_gp_rh $_gp_sc"; _gp_basic "$_gp_td/auth" || :; fi # a token is per host and scope
  _gp_ca "$_gp_api" || { _gp_w=000; return 0; }; _gp_qc=$_gp_ca
  for _gp_qz in 1 2; do
    _gp_w=$(curl -sS -K "$_gp_td/auth" -D "$_gp_td/h" -w '%{http_code}|%{content_type}|%header{docker-content-digest}\n' ${_gp_qc:+--cacert "$_gp_qc"} "$@" 2>/dev/null) || _gp_w=000
    case $_gp_w in 401*) [ "$_gp_qz" = 1 ] && _gp_auth || break ;; *) break ;; esac
  done; return 0
}
_gp_api_probe() { # REF [push]: the manifest digest (gp_dg) by the API; status 1: no such image, 2: any other answer
  command -v curl >/dev/null 2>&1 && _gp_open || return 2; _gp_ref "$1"; _gp_sc="repository:$_gp_rn:pull${2:+,push}"
  set -- "$1" "${2:-}" "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json" "https://$_gp_api/v2/$_gp_rn/manifests/$_gp_rr"
  if [ -z "$2" ]; then _gp_req HEAD -o /dev/null -H "$3" "$4"; gp_dg=${_gp_w##*|}; fi # HEAD: the digest header
  case $_gp_w in 200*) case $gp_dg in sha256:*) ;; *) set -- "$1" push "$3" "$4" ;; esac ;; esac # no digest header: GET
  if [ -n "$2" ]; then # GET: the bytes, their sha256 is the digest (the header, when sent, must agree)
    _gp_md=; _gp_req GET -o "$_gp_td/m" -H "$3" "$4"; _gp_mt=${_gp_w#*|}; _gp_mt=${_gp_mt%%|*}; _gp_mt=${_gp_mt%%;*}
    gp_dg=; case $_gp_w in 200*) gp_dg=$(sha256sum "$_gp_td/m") && gp_dg=sha256:${gp_dg%% *} || _gp_w=000 ;; esac
    case ${_gp_w##*|} in sha256:*) [ "${_gp_w##*|}" = "$gp_dg" ] || _gp_w=000 ;; esac; [ -n "$_gp_mt" ] || _gp_w=000
  fi
  case $_gp_w in
  200*) case $gp_dg in sha256:????????????????????????????????????????????????????????????????) ;; *) return 2 ;; esac
    case $_gp_rr in sha256:*) [ "$_gp_rr" = "$gp_dg" ] || return 2 ;; esac; _gp_md=$gp_dg ;;
  404*) return 1 ;;
  *) return 2 ;;
  esac
}
gp_probe() { # REF [push]: its manifest digest in gp_dg, status 1 when none; with push the API session stays open for gp_retag
  gp_dg=; _gp_api_probe "$@" && _gp_s=0 || _gp_s=$?; [ "$_gp_s" = 0 ] && [ -n "${2:-}" ] || _gp_close
  [ "$_gp_s" = 2 ] || return "$_gp_s"; gp_dg=; gp_login || return 1 # the API failed: the tools decide
  if command -v skopeo >/dev/null 2>&1; then # one manifest GET; skopeo hashes it
    gp_dp=$(mktemp) && skopeo inspect --raw "docker://$1" > "$gp_dp" 2>/dev/null && gp_dg=$(skopeo manifest-digest "$gp_dp"); rm -f "$gp_dp"
  else # buildah 1.28 cannot inspect docker://: add it to a local list (reads the manifest only)
    gp_dp=gp-digest-probe-$$; buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
    if buildah manifest create "$gp_dp" >/dev/null 2>&1 && buildah manifest add "$gp_dp" "docker://$1" >/dev/null 2>&1; then
      gp_dg=$(buildah manifest inspect "$gp_dp" | sed -n 's/.*"digest": *"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1)
    fi; buildah manifest rm "$gp_dp" >/dev/null 2>&1 || true
  fi; case $gp_dg in sha256:*) ;; *) gp_dg=; return 1 ;; esac
}
gp_digest_of() { gp_probe "$1" && printf '%s\n' "$gp_dg"; } # the manifest digest $1 names in its registry; status 1 when none
_gp_api_retag() { # REPO@DIGEST: its manifest PUT under each ref of gp_refs (one curl, in parallel), each digest checked; else status 1
  command -v curl >/dev/null 2>&1 || return 1
  if [ "${_gp_md:-}" != "${1#*@}" ]; then _gp_close; _gp_api_probe "$1" push || return 1; fi
  _gp_ref "$1"; _gp_qs="$_gp_api/v2/$_gp_rn"; set -- "${1#*@}" -Z -H "Content-Type: $_gp_mt" -H 'Expect:' --data-binary "@$_gp_td/m"; _gp_qn=0
  for gp_r in $gp_refs; do _gp_ref "$gp_r" # the source's repository only: a copy to another is the tools' job (blobs)
    [ "$_gp_api/v2/$_gp_rn" = "$_gp_qs" ] || return 1; set -- "$@" -o "$_gp_td/o" "https://$_gp_qs/manifests/$_gp_rr"; _gp_qn=$((_gp_qn + 1))
  done; [ "$_gp_qn" -gt 0 ] || return 0; _gp_sc="repository:$_gp_rn:pull,push"; _gp_qd=$1; shift; _gp_req PUT "$@"
  for _gp_x in $_gp_w; do case $_gp_x in "201|"*"|$_gp_qd") _gp_qn=$((_gp_qn - 1)) ;; *) return 1 ;; esac; done
  [ "$_gp_qn" = 0 ] || return 1; for gp_r in $gp_refs; do echo "gen-pipeline: $gp_r -> $_gp_qd"; done
}
gp_retag() { # the refs gp_refs name image $1 (REPO@DIGEST), its digest unchanged
  gp_src=$1; _gp_api_retag "$1" && _gp_s=0 || _gp_s=$?; _gp_close; [ "$_gp_s" != 0 ] || return 0
  gp_login || return 1; if command -v skopeo >/dev/null 2>&1; then # copies no layer the registry has
    for gp_r in $gp_refs; do skopeo copy -q --preserve-digests "docker://$gp_src" "docker://$gp_r" || return 1; done; return 0
  fi # else pull it (layers only, nothing runs) and push it per tag: the blob-info cache keeps SRC's digest
  gp_iid=$(buildah pull -q "docker://$gp_src") || return 1
  for gp_r in $gp_refs; do
    buildah push --digestfile "$GP_DIGEST_FILE.retag" "$gp_iid" "docker://$gp_r" || return 1
    [ "$(cat "$GP_DIGEST_FILE.retag")" = "${gp_src#*@}" ] || { echo "gen-pipeline: $gp_r got $(cat "$GP_DIGEST_FILE.retag"), not ${gp_src#*@}" >&2; return 1; }
  done
}
