// Container health check (docker compose, Dockerfile HEALTHCHECK): exits 0 when
// GET http://127.0.0.1:$PORT<path> answers 2xx. Plain Node, because the slim image has no curl.
//   node deploy/healthcheck.mjs /readyz    readiness: database reachable, signing key loaded, not draining
//   node deploy/healthcheck.mjs /healthz   liveness: the process answers
const path = process.argv[2] ?? '/readyz';
const port = process.env.PORT ?? '3000';
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
