#!/usr/bin/env python3
"""API-key verification under load, in one run on this machine:

  * the HTTP ceiling: GET /api/v1/health, a handler that does no work, same server stack;
  * POST /api/v1/keys/verify and GET /api/v1/company with the key cache warm;
  * POST /api/v1/keys/verify with the cache off (ATRIUM_API_KEY_CACHE=false);
  * pgbench -S (select-only, prepared) against the same PostgreSQL: the limit baseline;
  * the source document's design (bcrypt-hashed keys checked per request,
    server/examples/bcrypt_baseline.rs): the ratio to beat.

Each runs wrk at 64 connections for 20 s (BENCH_SECONDS to change it). Prints req/s, p50 and
p99 for each, the ratios, and the server's peak RSS under load.

Usage: bench/api_keys.py  (needs wrk: apt-get install wrk; DATABASE_URL, or `.dev/db start`;
and a release build: `cargo leptos build --release`). It builds the bcrypt baseline itself."""
import json, os, re, socket, subprocess, sys, tempfile, time, urllib.parse
from benchlib import PG_BIN, ROOT, free_port, rss_peak_mb, sh, wait_ready
from benchlib import wrk as run_wrk

SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
CONNECTIONS = 64


def wrk(url, method="GET", body="", auth="", expect=""):
    return run_wrk(url, CONNECTIONS, SECONDS, method=method, body=body, auth=auth, expect=expect)

db_url = os.environ.get("DATABASE_URL") or sh(os.path.join(ROOT, ".dev/db"), "url")
parts = urllib.parse.urlsplit(db_url)
name = f"atrium_bench_keys_{os.getpid()}"
admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
bench = urllib.parse.urlunsplit(parts._replace(path="/" + name))
sh(f"{PG_BIN}/psql", admin, "-qc", f"CREATE DATABASE {name}")
procs = []
results = {}
try:
    binary = os.path.join(ROOT, "target/release/atrium")
    env = dict(os.environ, DATABASE_URL=bench, RUST_LOG="warn", ATRIUM_DATA_DIR=tempfile.mkdtemp(),
               ATRIUM_SECRET_KEY="bench secret key, long enough to be accepted as one", LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"),
               # wrk calls from one address: lift the per-address verify limit (the limiter still runs).
               ATRIUM_KEY_VERIFY_PER_MINUTE="1000000000")
    sh(binary, "migrate", "up", env=env)
    sh(f"{PG_BIN}/psql", bench, "-qc", "INSERT INTO companies (name, slug) VALUES ('Bench Co', 'bench-co')")
    key = sh(binary, "api-key", "create", "--company", "bench-co", "--name", "bench", "--scopes", "read:company,read:metrics",
             "--expires-in", "30d", env=env)
    # 10,000 other keys, so the lookup is a real index probe.
    sh(f"{PG_BIN}/psql", bench, "-qc", """
      INSERT INTO api_keys (company_id, name, key_hash, key_prefix, key_last4, expires_at)
      SELECT (SELECT id FROM companies WHERE slug = 'bench-co'), 'filler ' || i, sha256(i::text::bytea), 'atr_live_xxxx', 'xxxx',
             now() + interval '30 days' FROM generate_series(1, 10000) i; ANALYZE;""")
    verify_body = json.dumps({"key": key})

    def start_atrium(cache):
        port = free_port()
        p = subprocess.Popen([binary, "serve"], env=dict(env, ATRIUM_ADDR=f"127.0.0.1:{port}", ATRIUM_API_KEY_CACHE=cache),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/api/v1/health")
        return p, base

    server, base = start_atrium("true")
    results["ceiling: GET /api/v1/health (no work)"] = wrk(base + "/api/v1/health")
    results["verify, cache warm"] = wrk(base + "/api/v1/keys/verify", "POST", verify_body, expect='"valid":true')
    results["GET /api/v1/company, cache warm"] = wrk(base + "/api/v1/company", auth=key)
    rss = rss_peak_mb(server.pid)
    server.terminate(); server.wait()

    server, base = start_atrium("false")
    results["verify, cache off"] = wrk(base + "/api/v1/keys/verify", "POST", verify_body, expect='"valid":true')
    server.terminate(); server.wait()

    # pgbench -S against the same PostgreSQL, same client count.
    pg = urllib.parse.urlsplit(bench)
    pgenv = dict(os.environ, PGHOST=pg.hostname, PGPORT=str(pg.port), PGUSER=urllib.parse.unquote(pg.username or ""),
                 PGPASSWORD=urllib.parse.unquote(pg.password or ""), PGDATABASE=name)
    sh(f"{PG_BIN}/pgbench", "-i", "-s", "10", "-q", env=pgenv)
    logdir = tempfile.mkdtemp()
    out = subprocess.run([f"{PG_BIN}/pgbench", "-S", "-M", "prepared", "-c", str(CONNECTIONS), "-j", "2", "-T", str(SECONDS),
                          "-l", "--sampling-rate", "0.05", "--log-prefix", os.path.join(logdir, "pgb")],
                         capture_output=True, text=True, env=pgenv, check=True).stdout
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    lat = sorted(int(l.split()[2]) / 1000 for f in os.listdir(logdir) for l in open(os.path.join(logdir, f)))
    results["pgbench -S (prepared)"] = {"rps": tps, "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)], "errors": 0}

    # The source document's design: bcrypt per request.
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "server", "--example", "bcrypt_baseline"], cwd=ROOT, check=True)
    port = free_port()
    baseline = subprocess.Popen([os.path.join(ROOT, "target/release/examples/bcrypt_baseline"), str(port)],
                                env=dict(os.environ, DATABASE_URL=bench), stdout=subprocess.PIPE, text=True)
    procs.append(baseline)
    bkey = baseline.stdout.readline().strip()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
        except OSError:
            time.sleep(0.1)
    results["bcrypt design: verify (002/M003)"] = wrk(f"http://127.0.0.1:{port}/verify", "POST", json.dumps({"key": bkey}), expect='"valid":true')
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate(); p.wait()
    subprocess.run([f"{PG_BIN}/psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)

print(f"\n{CONNECTIONS} connections, {SECONDS} s each, 2 cores shared by wrk, Atrium and PostgreSQL\n")
print(f"{'':42} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
for k, r in results.items():
    print(f"{k:42} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7}")
warm, off = results["verify, cache warm"], results["verify, cache off"]
pgb, bc, ceil = results["pgbench -S (prepared)"], results["bcrypt design: verify (002/M003)"], results["ceiling: GET /api/v1/health (no work)"]
company = results["GET /api/v1/company, cache warm"]
print()
print(f"verify (warm) / pgbench -S      {warm['rps'] / pgb['rps']:8.2f}x   (target >= 3)")
print(f"verify (warm) / ceiling         {warm['rps'] / ceil['rps']:8.2f}x   (target >= 0.5)")
print(f"verify (cache off) / pgbench -S {off['rps'] / pgb['rps']:8.2f}x   (target >= 1)")
print(f"verify (warm) / bcrypt design   {warm['rps'] / max(bc['rps'], 0.001):8.0f}x")
print(f"GET /company (warm) / ceiling   {company['rps'] / ceil['rps']:8.2f}x   (target >= 0.35, issue 15)")
print(f"GET /company (warm) / pgbench   {company['rps'] / pgb['rps']:8.2f}x")
print(f"verify p99 (warm)               {warm['p99']:8.2f} ms (target <= 5)")
print(f"server peak RSS under load      {rss:8.1f} MB (target <= 100)")
bad = {k: r["errors"] for k, r in results.items() if r["errors"]}
if bad:
    sys.exit(f"errors or wrong answers during the run: {bad}")
