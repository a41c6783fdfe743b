#!/usr/bin/env python3
"""A fake token-auth registry for tests (manifests only, no blobs), over TLS.

    token-registry.py PORT CERT KEY STATE_DIR USER PASSWORD

What it does, as Docker Hub / GitLab's registry do (distribution's token auth,
https://distribution.github.io/distribution/spec/auth/token/):
- every /v2/ request without a valid Bearer token for its repository and action gets
  401 with `WWW-Authenticate: Bearer realm="https://127.0.0.1:PORT/token",service="fake",scope=...`;
- GET /token?service=fake&scope=repository:NAME:ACTIONS answers a token for those actions with
  correct Basic credentials (JSON `token`), and an anonymous one with `pull` only on repositories
  under `library/` without credentials (JSON `access_token`, as Docker Hub's); wrong credentials: 401;
- GET/HEAD /v2/NAME/manifests/REF serves STATE_DIR/store.json's manifests (by tag or digest) with
  their media type and Docker-Content-Digest; 404 MANIFEST_UNKNOWN when absent;
- PUT /v2/NAME/manifests/TAG stores the body with its Content-Type and answers 201 with its digest
  (a repository named `*/liar` answers a wrong digest).
Every request is appended to STATE_DIR/requests.log as `METHOD PATH AUTH STATUS` (AUTH: none,
basic-ok, basic-bad, bearer:SCOPE, bearer-bad). Tokens carry the marker SECRET-TOKEN- so tests can
check that no trace prints one.
"""
import base64, hashlib, http.server, json, os, secrets, ssl, sys, threading, urllib.parse

port, cert, key, state, user, password = sys.argv[1:7]
port = int(port)
store_path = os.path.join(state, "store.json")
lock = threading.Lock()
tokens = {}  # token -> set of (repo, action)


def load():
    with open(store_path) as f:
        return json.load(f)


def save(s):
    tmp = store_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(s, f, indent=1, sort_keys=True)
    os.replace(tmp, store_path)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, auth, status):
        with open(os.path.join(state, "requests.log"), "a") as f:
            f.write("%s %s %s %d\n" % (self.command, self.path, auth, status))

    def answer(self, status, body=b"", headers=(), auth="none"):
        self.record(auth, status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def basic(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None
        try:
            u, _, p = base64.b64decode(h[6:]).decode().partition(":")
        except Exception:
            return False
        return u == user and p == password

    def do_token(self, q):
        scope = q.get("scope", [""])[0]
        if q.get("service", [""])[0] != "fake" or not scope.startswith("repository:"):
            return self.answer(400, b'{"errors":[{"code":"UNSUPPORTED"}]}')
        _, repo, actions = scope.split(":")
        ok = self.basic()
        if ok is False:
            return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', auth="basic-bad")
        tok = "SECRET-TOKEN-" + secrets.token_hex(8)
        if ok:
            grant = {(repo, a) for a in actions.split(",")}
            body = {"token": tok, "expires_in": 300}
        else:
            grant = {(repo, "pull")} if repo.startswith("library/") and "pull" in actions.split(",") else set()
            body = {"access_token": tok, "expires_in": 300}
        with lock:
            tokens[tok] = grant
        self.answer(200, json.dumps(body).encode(), [("Content-Type", "application/json")],
                    auth="basic-ok" if ok else "none")

    def bearer(self, repo, action):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            return "none", False
        with lock:
            grant = tokens.get(h[7:])
        if grant is None:
            return "bearer-bad", False
        return "bearer:" + ",".join(sorted(a for r, a in grant if r == repo)), (repo, action) in grant

    def handle_any(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/token" and self.command == "GET":
            return self.do_token(urllib.parse.parse_qs(u.query))
        body = b""
        if self.command == "PUT":
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = u.path.split("/manifests/")
        if not u.path.startswith("/v2/") or len(parts) != 2:
            return self.answer(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
        repo, ref = parts[0][4:], parts[1]
        action = "push" if self.command == "PUT" else "pull"
        auth, ok = self.bearer(repo, action)
        if not ok:
            chal = 'Bearer realm="https://127.0.0.1:%d/token",service="fake",scope="repository:%s:%s"' % (
                port, repo, "pull,push" if action == "push" else "pull")
            return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", chal)], auth)
        with lock:
            s = load()
            r = s.setdefault(repo, {"manifests": {}, "tags": {}})
            if self.command == "PUT":
                d = "sha256:" + hashlib.sha256(body).hexdigest()
                r["manifests"][d] = {"type": self.headers.get("Content-Type", ""), "b64": base64.b64encode(body).decode()}
                r["tags"][ref] = d
                save(s)
                said = "sha256:" + "0" * 64 if repo.endswith("/liar") else d
                return self.answer(201, b"", [("Docker-Content-Digest", said), ("Location", "/v2/%s/manifests/%s" % (repo, d))], auth)
            d = ref if ref.startswith("sha256:") else r["tags"].get(ref)
            m = r["manifests"].get(d) if d else None
        if m is None:
            return self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', [("Content-Type", "application/json")], auth)
        self.answer(200, base64.b64decode(m["b64"]), [("Content-Type", m["type"]), ("Docker-Content-Digest", d)], auth)

    do_GET = do_HEAD = do_PUT = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(os.path.join(state, "ready"), "w").close()
srv.serve_forever()
