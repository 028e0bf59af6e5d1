#!/usr/bin/env python3
"""A resource service in Python that trusts Tessera's access tokens.

Standard library plus PyJWT (Debian: python3-jwt, which brings python3-cryptography). It
never calls Tessera on a request: it verifies each token locally against the keys of
Tessera's JWKS, and keeps an in-memory copy of Tessera's revocations by following the
revocation feed (Server-Sent Events) in a background thread. See README.md: it is the guide
for services that are not written for Node.
"""

import base64
import collections
import json
import logging
import os
import random
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger("python-service")

ENV = os.environ
ISSUER = ENV.get("ISSUER", "http://localhost:3000")
AUDIENCE = ENV.get("AUDIENCE", "tessera")
JWKS_URI = ENV.get("JWKS_URI") or ISSUER.rstrip("/") + "/.well-known/jwks.json"
FEED_URL = ENV.get("TESSERA_FEED_URL", "")
FEED_CLIENT_ID = ENV.get("TESSERA_FEED_CLIENT_ID", "")
FEED_CLIENT_SECRET = ENV.get("TESSERA_FEED_CLIENT_SECRET", "")
FEED_STATE_FILE = ENV.get("FEED_STATE_FILE", "")
# Tessera sends a `: keep-alive` comment every 15 s: three missed ones mean a dead connection.
FEED_HEARTBEAT_TIMEOUT = float(ENV.get("FEED_HEARTBEAT_TIMEOUT_SECONDS", "45"))
CLOCK_SKEW = 5  # seconds; Tessera keeps a revocation for the token lifetime + 60 s, so never more than 60
MAX_TOKEN_LIFETIME = int(ENV.get("MAX_TOKEN_LIFETIME_SECONDS", "960"))  # ACCESS_TOKEN_TTL (900) + 60
JWKS_MAX_AGE = 600  # seconds a fetched key set is used before it is fetched again
JWKS_COOLDOWN = 30  # at most one fetch this often for an unknown kid: made-up kids cannot flood Tessera
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid"]
FORBIDDEN_HEADERS = {"jku", "jwk", "x5u", "x5c", "crit", "b64"}


class Denylist:
    """Tessera's live revocations, with the feed's semantics (times in epoch seconds)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions = {}  # sid -> expires_at
        self._tokens = {}  # jti -> expires_at
        self._users = {}  # sub -> (not_before, expires_at): tokens with iat < not_before are revoked

    def apply(self, entry):
        kind, until = entry.get("kind"), entry.get("expires_at")
        if not isinstance(until, (int, float)):
            return False
        with self._lock:
            if kind == "session" and isinstance(entry.get("sid"), str):
                self._sessions[entry["sid"]] = max(until, self._sessions.get(entry["sid"], 0))
            elif kind == "token" and isinstance(entry.get("jti"), str):
                self._tokens[entry["jti"]] = max(until, self._tokens.get(entry["jti"], 0))
            elif kind == "user" and isinstance(entry.get("sub"), str) and isinstance(entry.get("not_before"), (int, float)):
                before, known_until = self._users.get(entry["sub"], (0, 0))
                # A cut-off only moves forward: an older entry must not bring tokens back.
                self._users[entry["sub"]] = (max(before, entry["not_before"]), max(until, known_until))
            else:
                return False  # a kind this service does not know (a newer Tessera): skip it
        return True

    def replace_all(self, entries):
        with self._lock:
            self._sessions.clear()
            self._tokens.clear()
            self._users.clear()
        for entry in entries:
            self.apply(entry)

    def is_revoked(self, claims, now):
        with self._lock:
            if self._sessions.get(claims.get("sid"), 0) > now or self._tokens.get(claims.get("jti"), 0) > now:
                return True
            cut = self._users.get(claims.get("sub"))
            return cut is not None and cut[1] > now and claims.get("iat", 0) < cut[0]

    def prune(self, now):
        with self._lock:
            for table in (self._sessions, self._tokens):
                for key in [k for k, until in table.items() if until <= now]:
                    del table[key]
            for key in [k for k, cut in self._users.items() if cut[1] <= now]:
                del self._users[key]

    def wire_entries(self):
        with self._lock:
            return (
                [{"kind": "session", "sid": k, "expires_at": v} for k, v in self._sessions.items()]
                + [{"kind": "token", "jti": k, "expires_at": v} for k, v in self._tokens.items()]
                + [{"kind": "user", "sub": k, "not_before": b, "expires_at": u} for k, (b, u) in self._users.items()]
            )

    def __len__(self):
        with self._lock:
            return len(self._sessions) + len(self._tokens) + len(self._users)


class JwksCache:
    """Tessera's public keys by kid: RSA signature keys for RS256 only."""

    def __init__(self, uri):
        self._uri = uri
        self._keys = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self):
        with urllib.request.urlopen(self._uri, timeout=5) as res:
            body = json.loads(res.read(256 * 1024 + 1))
        keys = {}
        for jwk in body.get("keys", []):
            if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256" or "kid" not in jwk:
                continue
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            if key.key_size >= 2048:
                keys[jwk["kid"]] = key
        self._keys, self._fetched_at = keys, time.monotonic()

    def key(self, kid):
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if self._fetched_at == 0 or age > JWKS_MAX_AGE or (kid not in self._keys and age > JWKS_COOLDOWN):
                self._fetch()  # raises: the caller answers 503
            return self._keys.get(kid)


class Rejected(Exception):
    def __init__(self, status, code, detail):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def verify(token, jwks, denylist):
    """The claims of a valid, unrevoked Tessera access token, or raises Rejected."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Rejected(401, "invalid_token", "malformed token")
    # Decide the algorithm ourselves: never the token's choice ("none", HS256 with the public key).
    if header.get("alg") != "RS256":
        raise Rejected(401, "invalid_token", "unsupported alg")
    if header.get("typ") != "at+jwt":  # RFC 9068: an ID token or any other JWT is not an access token
        raise Rejected(401, "invalid_token", "not an access token")
    if FORBIDDEN_HEADERS & header.keys() or not isinstance(header.get("kid"), str):
        raise Rejected(401, "invalid_token", "bad header")
    try:
        key = jwks.key(header["kid"])
    except (OSError, ValueError) as err:
        log.error("JWKS unavailable: %s", err)
        raise Rejected(503, "service_unavailable", "the access token cannot be checked right now")
    if key is None:
        raise Rejected(401, "invalid_token", "unknown kid")
    try:
        claims = jwt.decode(
            token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER, leeway=CLOCK_SKEW,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Rejected(401, "invalid_token", "expired")
    except jwt.PyJWTError as err:
        raise Rejected(401, "invalid_token", type(err).__name__)
    if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME:
        raise Rejected(401, "invalid_token", "lifetime too long")
    if denylist.is_revoked(claims, time.time()):
        raise Rejected(401, "token_revoked", "the access token has been revoked")
    return claims


class FeedFollower(threading.Thread):
    """Follows GET /revocations/stream into the denylist; resumes with Last-Event-ID."""

    def __init__(self, denylist):
        super().__init__(name="revocation-feed", daemon=True)
        self.denylist = denylist
        self.cursor = None
        self.caught_up = False
        self.stopping = threading.Event()
        self.retry = 1.0  # until the server's `retry:` says otherwise
        # What this process received: lets an operator (and the end-to-end test) see a resume.
        self.resumed_from = None
        self.snapshots = 0
        self.received = collections.deque(maxlen=1000)  # ids of the latest revocations applied
        self._response = None
        self._load_state()
        form = lambda value: urllib.parse.quote_plus(value)  # RFC 6749 §2.3.1: form-encode, then Basic
        pair = f"{form(FEED_CLIENT_ID)}:{form(FEED_CLIENT_SECRET)}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode()

    def _load_state(self):
        """A cursor is only worth resuming from with the denylist it was the cursor of."""
        if not FEED_STATE_FILE or not os.path.exists(FEED_STATE_FILE):
            return
        try:
            with open(FEED_STATE_FILE) as f:
                state = json.load(f)
            entries, cursor = state["entries"], state["cursor"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable %s (%s): starting from a snapshot", FEED_STATE_FILE, err)
            return
        self.denylist.replace_all(entries)
        self.cursor = self.resumed_from = cursor

    def _save_state(self):
        if not FEED_STATE_FILE:
            return
        tmp = FEED_STATE_FILE + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"cursor": self.cursor, "entries": self.denylist.wire_entries()}, f)
        os.replace(tmp, FEED_STATE_FILE)  # atomic: a crash leaves the old state or the new one

    def run(self):
        failures = 0
        while not self.stopping.is_set():
            try:
                self._follow()
            except urllib.error.HTTPError as err:
                hint = {401: " (check the client id and secret)", 403: " (the client lacks the revocations permission)"}
                log.error("revocation feed answered HTTP %s%s", err.code, hint.get(err.code, ""))
            except Exception as err:  # refused, reset, timed out (no heartbeat), bad data: never let the thread die
                if not self.stopping.is_set():
                    log.warning("revocation feed connection lost: %s", err)
            was_caught_up, self.caught_up = self.caught_up, False
            failures = 0 if was_caught_up else failures + 1
            delay = min(self.retry * 2 ** failures, 30) * (0.5 + random.random() / 2)
            self.stopping.wait(delay)

    def _follow(self):
        headers = {"Accept": "text/event-stream", "Authorization": self._authorization, "Cache-Control": "no-store"}
        if self.cursor is not None:
            headers["Last-Event-ID"] = self.cursor
        request = urllib.request.Request(FEED_URL, headers=headers)
        # The timeout applies to every read: silence longer than the heartbeat timeout raises.
        with urllib.request.urlopen(request, timeout=FEED_HEARTBEAT_TIMEOUT) as res:
            if not res.headers.get("Content-Type", "").startswith("text/event-stream"):
                raise ValueError("the feed did not answer text/event-stream")
            self._response = res
            resumed = self.cursor is not None
            event, data, event_id = "", [], None
            for raw in res:  # one line at a time, as the server sends them
                if resumed and not self.caught_up:
                    self.caught_up = True  # a resumed stream sends what was missed right away
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":  # a blank line dispatches the event
                    if data:
                        self._dispatch(event or "message", "\n".join(data), event_id)
                    event, data = "", []
                elif line.startswith(":"):
                    continue  # `: keep-alive`
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
                    elif field == "id":
                        event_id = value
                    elif field == "retry" and value.isdigit():
                        self.retry = max(int(value), 100) / 1000
            raise ConnectionError("the feed closed the stream")

    def _dispatch(self, event, data, event_id):
        if event == "snapshot":
            entries = json.loads(data)["entries"]
            self.denylist.replace_all(entries)  # the snapshot is the whole truth: replace
            self.snapshots += 1
            self.caught_up = True
        elif event == "revocation":
            entry = json.loads(data)
            if self.denylist.apply(entry):
                self.received.append(entry.get("sid") or entry.get("jti") or entry.get("sub"))
        else:
            return
        self.cursor = event_id
        self._save_state()

    def stop(self):
        self.stopping.set()
        res = self._response
        if res is not None:
            try:
                res.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read
            except (AttributeError, OSError):
                pass


def make_handler(jwks, denylist, feed):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        # Headers and body in one segment: two small writes would meet the client's delayed ACK (~40 ms).
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _send(self, status, body, content_type="application/json", headers=()):
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _problem(self, rejected, challenge):
            headers = [("WWW-Authenticate", challenge)] if rejected.status == 401 else [("Retry-After", "5")]
            body = {"type": f"urn:tessera:error:{rejected.code}", "status": rejected.status, "code": rejected.code, "detail": rejected.detail}
            self._send(rejected.status, body, "application/problem+json", headers)

        def do_GET(self):
            if self.path == "/healthz":
                return self._send(200, {"status": "ok"})
            if self.path == "/readyz":
                ok = feed is None or feed.caught_up
                return self._send(200 if ok else 503, {
                    "status": "ready" if ok else "not_ready",
                    "revocation": "off" if feed is None else ("ok" if ok else "degraded"),
                    "cursor": feed and feed.cursor, "entries": len(denylist),
                    "resumed_from": feed and feed.resumed_from, "snapshots": feed and feed.snapshots,
                    "received": feed and list(feed.received),
                })
            if self.path != "/api/profile":
                return self._send(404, {"status": 404, "code": "not_found"})
            header = self.headers.get("Authorization", "")
            if not header:
                return self._problem(Rejected(401, "invalid_token", "an access token is required"), 'Bearer realm="tessera"')
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
                    raise Rejected(401, "invalid_token", "malformed Authorization header")
                claims = verify(token.strip(), jwks, denylist)
            except Rejected as rejected:
                description = "The access token has been revoked" if rejected.code == "token_revoked" else "The access token is invalid"
                return self._problem(rejected, f'Bearer realm="tessera", error="invalid_token", error_description="{description}"')
            self._send(200, {"sub": claims["sub"], "sid": claims["sid"], "client_id": claims["client_id"], "service": "python"})

    return Handler


def main():
    logging.basicConfig(level=ENV.get("LOG_LEVEL", "INFO").upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    denylist = Denylist()
    feed = None
    if FEED_URL:
        if not FEED_CLIENT_ID or not FEED_CLIENT_SECRET:
            raise SystemExit("TESSERA_FEED_URL needs TESSERA_FEED_CLIENT_ID and TESSERA_FEED_CLIENT_SECRET")
        feed = FeedFollower(denylist)
        feed.start()
    else:
        log.warning("TESSERA_FEED_URL is not set: logged-out tokens are accepted until they expire")
    server = ThreadingHTTPServer((ENV.get("HOST", "0.0.0.0"), int(ENV.get("PORT", "4001"))), make_handler(JwksCache(JWKS_URI), denylist, feed))
    server.daemon_threads = True

    def prune():
        while True:
            time.sleep(60)
            denylist.prune(time.time())

    threading.Thread(target=prune, name="prune", daemon=True).start()

    def shut_down(_signum, _frame):
        if feed is not None:
            feed.stop()
        threading.Thread(target=server.shutdown).start()  # shutdown() waits for serve_forever: not from its thread

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    log.info("listening on %s:%s", *server.server_address[:2])
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
