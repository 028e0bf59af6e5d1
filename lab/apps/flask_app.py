# The lab's Flask session application, the problem statement's own examples, on Debian's
# python3-flask and python3-flask-session (run with /usr/bin/python3; no pip):
#   LAB_STORE=cookie     Flask's default session: the session is the cookie, signed with
#                        itsdangerous; no server state at all.
#   LAB_STORE=redis      Flask-Session's RedisSessionInterface (python3-redis) on the lab's Redis.
#   LAB_STORE=memcached  Flask-Session's MemcachedSessionInterface given a pymemcache client
#                        (python3-pymemcache) on the lab's memcached.
# The protocol is lab/apps/session-app.ts's: POST /login {user}, GET /profile, POST /logout,
# POST /password, GET /healthz; no user database (any user name logs in).
#
# A password change ends the user's OTHER sessions where the architecture can find them: the
# store-backed apps keep a per-user index of session ids in the store (a Redis set; a memcached
# key appended to) and delete those sessions. The signed cookie has no server state to find
# them in: Flask's default session cannot end another browser's session (its docs: the cookie is
# the session), so its password change only re-issues the caller's cookie.
import logging
import os
import signal
import sys
import threading
import time

from flask import Flask, jsonify, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

env = os.environ
replica = env.get('LAB_REPLICA', f'pid-{os.getpid()}')
store_kind = env.get('LAB_STORE', 'cookie')

app = Flask(__name__)
app.secret_key = env.get('LAB_SESSION_SECRET', 'lab-session-secret-at-least-32-characters')
app.config.update(SESSION_COOKIE_NAME='sid', SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE='Lax')

# Errors of the store client: the request fails (503), the session is not known.
store_errors: tuple = ()
index = None  # the per-user index of session ids: add(user, sid), others(user, sid), forget(user)
prefix = env.get('LAB_KEY_PREFIX', 'lab-flask:')

if store_kind == 'redis':
    import redis
    from flask_session import Session

    client = redis.Redis.from_url(env.get('LAB_REDIS_URL', 'redis://127.0.0.1:6379'), socket_timeout=1, socket_connect_timeout=1)
    app.config.update(SESSION_TYPE='redis', SESSION_REDIS=client, SESSION_KEY_PREFIX=prefix)
    Session(app)
    store_errors = (redis.exceptions.RedisError, OSError)

    class RedisIndex:
        def add(self, user, sid):
            client.sadd(f'{prefix}user:{user}', sid)

        def end_others(self, user, sid):
            key = f'{prefix}user:{user}'
            others = [s.decode() for s in client.smembers(key) if s.decode() != sid]
            if others:
                client.delete(*[prefix + s for s in others])
                client.srem(key, *others)
            return len(others)

    index = RedisIndex()
elif store_kind == 'memcached':
    from flask_session import Session
    from pymemcache.client.base import PooledClient
    from pymemcache.exceptions import MemcacheError

    host, port = env.get('LAB_MEMCACHED', '127.0.0.1:11211').rsplit(':', 1)
    # noreply off: a write is answered by memcached before the response leaves (pymemcache's
    # default, noreply=True, would report success for a write to a server that is gone).
    # pymemcache's base Client is not thread-safe: a pooled client serves the threaded server.
    client = PooledClient((host, int(port)), connect_timeout=1, timeout=1, default_noreply=False, max_pool_size=16)
    app.config.update(SESSION_TYPE='memcached', SESSION_MEMCACHED=client, SESSION_KEY_PREFIX=prefix)
    Session(app)
    store_errors = (MemcacheError, OSError)

    class MemcachedIndex:
        # memcached has no sets: the user's session ids are appended to one key (" sid").
        def add(self, user, sid):
            key = f'{prefix}user:{user}'
            if not client.append(key, f' {sid}'.encode()):
                if not client.add(key, f' {sid}'.encode()):
                    client.append(key, f' {sid}'.encode())

        def end_others(self, user, sid):
            key = f'{prefix}user:{user}'
            others = [s for s in (client.get(key) or b'').decode().split() if s != sid]
            for s in others:
                client.delete(prefix + s)
            client.set(key, f' {sid}'.encode())
            return len(others)

    index = MemcachedIndex()
elif store_kind != 'cookie':
    sys.exit(f'LAB_STORE must be cookie, redis or memcached, not {store_kind}')


def session_id():
    """The server-side session's id (Flask-Session); None for the signed cookie."""
    return getattr(session, 'sid', None)


@app.after_request
def replica_header(response):
    response.headers['x-replica'] = replica
    return response


@app.errorhandler(Exception)
def store_unavailable(err):
    # Flask hands an error raised while opening or saving the session over wrapped in a 500.
    cause = getattr(err, 'original_exception', None) or err
    if store_errors and isinstance(cause, store_errors):
        return jsonify(error='session store unavailable', detail=type(cause).__name__), 503
    if isinstance(err, HTTPException):
        return err
    return jsonify(error='internal error', detail=type(cause).__name__), 500


@app.get('/healthz')
def healthz():
    return jsonify(status='ok', replica=replica)


@app.post('/login')
def login():
    user = (request.get_json(silent=True) or {}).get('user')
    if not isinstance(user, str) or not user or len(user) > 200:
        return jsonify(error='user required'), 400
    session.clear()
    session['user'] = user
    if index:
        index.add(user, session_id())
    return jsonify(user=user, replica=replica)


@app.get('/profile')
def profile():
    user = session.get('user')
    if not user:
        return jsonify(error='not logged in'), 401
    return jsonify(user=user, replica=replica)


@app.post('/logout')
def logout():
    # Flask-Session deletes the stored session and the cookie; the signed cookie is only
    # cleared in this browser: a copy of it stays valid.
    session.clear()
    return '', 204


@app.post('/password')
def password():
    user = session.get('user')
    if not user:
        return jsonify(error='not logged in'), 401
    ended = index.end_others(user, session_id()) if index else 0
    session['password_changed'] = True
    return jsonify(user=user, replica=replica, other_sessions_ended=ended)


def serve():
    # Flask's built-in server (werkzeug), threaded, as `flask run` would, but with a graceful
    # stop, as the other apps have: on SIGTERM it stops accepting, lets the requests in flight
    # finish (half a second) and exits; nginx retries what it could not send elsewhere.
    server = make_server(env.get('HOST', '127.0.0.1'), int(env.get('PORT', '4100')), app, threaded=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(poll_interval=0.1)
    server.socket.close()
    time.sleep(0.5)
    os._exit(0)


if __name__ == '__main__':
    # No access log, and no traceback per request failed while the store is down.
    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    app.logger.setLevel(logging.CRITICAL)
    # Keep-alive to nginx, as the other apps do (werkzeug's default is HTTP/1.0).
    WSGIRequestHandler.protocol_version = 'HTTP/1.1'
    serve()
