#!/usr/bin/env bash
# A production-shaped local registry for end-to-end tests and benchmarks: Debian `docker-registry`
# (distribution 2.8) on a free 127.0.0.1 port, TLS with a self-signed certificate for IP:127.0.0.1,
# htpasswd (bcrypt) auth, filesystem storage and an access log. Needs root (writes certs.d).
#
#   registry.sh start STATE_DIR [USER [PASSWORD]]   # prints shell assignments, also in STATE_DIR/env
#   registry.sh stop  STATE_DIR                     # kills by PID, removes the certs.d entry
#
# STATE_DIR/env: REGISTRY=127.0.0.1:PORT REGISTRY_USER=.. REGISTRY_PASSWORD=.. REGISTRY_PID=..
#                REGISTRY_CA=STATE_DIR/ca.crt REGISTRY_LOG=STATE_DIR/registry.log
set -euo pipefail
cmd=${1:?usage: registry.sh start|stop STATE_DIR}
state=${2:?usage: registry.sh start|stop STATE_DIR}
certs_root=${CONTAINERS_CERTS_D:-/etc/containers/certs.d}

case "$cmd" in
start)
  user=${3:-ci}
  password=${4:-ci-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
  mkdir -p "$state/storage"
  state=$(cd "$state" && pwd)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  # A private CA (ca.crt, what clients trust) and a server certificate it signs: strict TLS
  # stacks (rustls/webpki, used by `gen-pipeline gc`) refuse a CA certificate as the server's own.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=gen-pipeline e2e CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$state/ca.key" -out "$state/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$state/registry.key" -out "$state/registry.csr" >/dev/null 2>&1
  printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > "$state/registry.ext"
  openssl x509 -req -in "$state/registry.csr" -CA "$state/ca.crt" -CAkey "$state/ca.key" \
    -CAcreateserial -days 2 -extfile "$state/registry.ext" -out "$state/registry.crt" >/dev/null 2>&1
  python3 - "$user" "$password" "$state/htpasswd" <<'PY'
import sys, bcrypt
user, pw, out = sys.argv[1:4]
open(out, "w").write("%s:%s\n" % (user, bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()))
PY
  cat > "$state/config.yml" <<YML
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $state/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: gen-pipeline-e2e-secret
  tls:
    certificate: $state/registry.crt
    key: $state/registry.key
auth:
  htpasswd:
    realm: gen-pipeline-e2e
    path: $state/htpasswd
YML
  mkdir -p "$certs_root/127.0.0.1:$port"
  cp "$state/ca.crt" "$certs_root/127.0.0.1:$port/ca.crt"
  setsid docker-registry serve "$state/config.yml" >"$state/registry.log" 2>&1 </dev/null &
  pid=$!
  cat > "$state/env" <<ENV
REGISTRY=127.0.0.1:$port
REGISTRY_USER=$user
REGISTRY_PASSWORD=$password
REGISTRY_PID=$pid
REGISTRY_CA=$state/ca.crt
REGISTRY_LOG=$state/registry.log
REGISTRY_CERTS_D=$certs_root/127.0.0.1:$port
ENV
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/ca.crt" "https://127.0.0.1:$port/v2/" || true)
    if [ "$code" = 401 ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/ca.crt" -u "$user:$password" "https://127.0.0.1:$port/v2/" || true)
      [ "$code" = 200 ] && { cat "$state/env"; exit 0; }
    fi
    kill -0 "$pid" 2>/dev/null || { echo "docker-registry exited:" >&2; cat "$state/registry.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "registry did not become ready on 127.0.0.1:$port" >&2
  cat "$state/registry.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  [ -f "$state/env" ] || exit 0
  # shellcheck disable=SC1091
  . "$state/env"
  kill "$REGISTRY_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$REGISTRY_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$REGISTRY_PID" 2>/dev/null || true
  rm -rf "$REGISTRY_CERTS_D"
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
