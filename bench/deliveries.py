#!/usr/bin/env python3
"""The delivery worker's throughput and memory, in one run on this machine:

  * queues DELIVERIES deliveries (default 100,000) to one enabled integration whose endpoint
    is a local receiver that answers 204 at once (server/examples/webhook_receiver.rs);
  * runs 1 worker process on the first BASELINE deliveries (default 10,000): the baseline;
  * then 4 `atrium worker` processes (ATRIUM_WORKER_CONCURRENCY each, default 8) on the rest,
    sampling their RSS every second;
  * prints deliveries/s for each, the 4-worker / 1-worker ratio, the receiver's count (every
    delivery arrives exactly once), and each worker's RSS after 10% and at 100% of its work.

Usage: bench/deliveries.py  (DATABASE_URL, or `.dev/db start`; and a release build:
`cargo leptos build --release`). It builds the receiver itself."""
import http.cookiejar, os, subprocess, sys, tempfile, time, urllib.parse, urllib.request
from benchlib import PG_BIN, ROOT, free_port, rss_mb, sh, wait_ready

TOTAL = int(os.environ.get("DELIVERIES", "100000"))
BASELINE = int(os.environ.get("BASELINE", "10000"))
WORKERS = 4
CONCURRENCY = os.environ.get("ATRIUM_WORKER_CONCURRENCY", "8")

db_url = os.environ.get("DATABASE_URL") or sh(os.path.join(ROOT, ".dev/db"), "url")
parts = urllib.parse.urlsplit(db_url)
name = f"atrium_bench_outbox_{os.getpid()}"
admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
bench = urllib.parse.urlunsplit(parts._replace(path="/" + name))
sh(f"{PG_BIN}/psql", admin, "-qc", f"CREATE DATABASE {name}")

def psql(sql):
    return sh(f"{PG_BIN}/psql", bench, "-qAtc", sql)

procs = []
try:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "server", "--example", "webhook_receiver"], cwd=ROOT, check=True)
    rport = free_port()
    receiver = subprocess.Popen([os.path.join(ROOT, "target/release/examples/webhook_receiver"), str(rport)],
                                stdout=subprocess.DEVNULL)
    procs.append(receiver)
    wait_ready(f"http://127.0.0.1:{rport}/count")

    binary = os.path.join(ROOT, "target/release/atrium")
    env = dict(os.environ, DATABASE_URL=bench, RUST_LOG="warn", ATRIUM_DATA_DIR=tempfile.mkdtemp(),
               ATRIUM_SECRET_KEY="bench secret key, long enough to be accepted as one",
               LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"), ATRIUM_WORKER_CONCURRENCY=CONCURRENCY)
    sh(binary, "migrate", "up", env=env)
    sh(binary, "create-superadmin", "--email", "bench@atrium.test", env=dict(env, ATRIUM_PASSWORD="bench password 1234"))
    psql("INSERT INTO companies (name, slug) VALUES ('Bench Co', 'bench-co')")

    # The integration is configured the way a user does it (the console's endpoint), so its
    # credentials are sealed by Atrium itself. No worker runs in this server.
    port = free_port()
    server = subprocess.Popen([binary, "serve"], env=dict(env, ATRIUM_ADDR=f"127.0.0.1:{port}", ATRIUM_WORKER="false"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(server)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/readyz")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    def post(path, form):
        req = urllib.request.Request(base + path, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
        return opener.open(req).read()
    post("/api/login", {"email": "bench@atrium.test", "password": "bench password 1234", "next": ""})
    post("/api/tenant/act-as", {"slug": "bench-co", "reason": "Delivery benchmark"})
    post("/api/integrations/save", {
        "slug": "bench-co", "platform": "benevity", "enabled": "on",
        "endpoint": f"http://127.0.0.1:{rport}/hook", "config": '{"program_id": "bench"}',
        "api_token": "tok_bench_12345678", "signing_secret": "whsec_" + "QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5DSEJFTkNIQkU=",
    })
    server.terminate(); server.wait()

    def queue(n, offset):
        psql(f"""INSERT INTO integration_delivery_log (integration_config_id, company_id, platform, payload, payload_hash)
                 SELECT c.id, c.company_id, 'benevity',
                        jsonb_build_object('type', 'volunteer.hours', 'data', jsonb_build_object('employee', 'e-' || i, 'hours', i % 8)),
                        md5(i::text) || md5((i + 1)::text)
                   FROM integration_configs c, generate_series({offset + 1}, {offset + n}) i; ANALYZE integration_delivery_log;""")

    def run(workers, n):
        before = int(urllib.request.urlopen(f"http://127.0.0.1:{rport}/count").read())
        start = time.time()
        ws = [subprocess.Popen([binary, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(workers)]
        procs.extend(ws)
        samples = []  # (fraction done, [rss per worker])
        while True:
            time.sleep(1)
            done = int(psql("SELECT count(*) FROM integration_delivery_log WHERE status = 'success'")) - run.done_before
            samples.append((done / n, [rss_mb(w.pid) for w in ws]))
            if done >= n:
                break
            if time.time() - start > 1800:
                sys.exit("the workers did not finish within 30 minutes")
        elapsed = time.time() - start
        for w in ws:
            w.terminate(); w.wait()
        run.done_before += n
        arrived = int(urllib.request.urlopen(f"http://127.0.0.1:{rport}/count").read()) - before
        return {"rate": n / elapsed, "seconds": elapsed, "arrived": arrived, "samples": samples}
    run.done_before = 0

    queue(BASELINE, 0)
    one = run(1, BASELINE)
    queue(TOTAL, BASELINE)
    four = run(WORKERS, TOTAL)
    failed = int(psql("SELECT count(*) FROM integration_delivery_log WHERE status <> 'success'"))
    attempts = int(psql("SELECT count(*) FROM integration_delivery_attempts"))
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate(); p.wait()
    subprocess.run([f"{PG_BIN}/psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)

def rss_at(samples, fraction):
    for f, rss in samples:
        if f >= fraction:
            return rss
    return samples[-1][1]

print(f"\nworker concurrency {CONCURRENCY}; receiver answers 204 at once; 2 cores shared by workers, receiver and PostgreSQL\n")
print(f"1 worker,  {BASELINE:>7} deliveries: {one['rate']:8.0f} deliveries/s ({one['seconds']:.1f} s), {one['arrived']} arrived")
print(f"{WORKERS} workers, {TOTAL:>7} deliveries: {four['rate']:8.0f} deliveries/s ({four['seconds']:.1f} s), {four['arrived']} arrived")
print(f"{WORKERS} workers / 1 worker: {four['rate'] / one['rate']:.2f}x")
early, late = rss_at(four["samples"], 0.10), four["samples"][-1][1]
for i, (e, l) in enumerate(zip(early, late)):
    print(f"worker {i + 1} RSS: {e:6.1f} MB after 10% -> {l:6.1f} MB at 100% ({l / e:.2f}x)")
print(f"not delivered: {failed}; attempts recorded: {attempts} for {BASELINE + TOTAL} deliveries")
if failed or one["arrived"] != BASELINE or four["arrived"] != TOTAL:
    sys.exit("some deliveries were lost or sent twice")
