#!/usr/bin/env python3
"""The audit log at a million rows, in one run on this machine:

  * seeds ROWS audit rows (default 1,000,000) across 100 companies over the past year,
    through the chaining trigger (in transactions of 1,000 rows, as writers would);
  * times the viewer's first page through real HTTP, 200 requests each: unfiltered, and
    filtered by action plus a 90-day range, for one company (p50, p95; target p95 <= 25 ms;
    also as a ratio to GET /healthz measured in the same run);
  * exports one company's rows (about 10,000; the median of 5 runs) and then every row (the
    super-admin's export) as CSV, sampling the server's RSS every 10 ms: rows/s (target >= 100k/s) and
    peak RSS (target < 64 MB);
  * measures audit::record's overhead in a transaction (server/examples/audit_record.rs):
    p50 with and without it (target overhead <= 0.5 ms);
  * runs `atrium audit verify` over every chain: rows/s.

Usage: bench/audit.py  (BENCH_DB=name to keep the seeded database between runs; DATABASE_URL, or `.dev/db start`; and a release build:
`cargo leptos build --release`). It builds the record example itself."""
import http.cookiejar, os, re, subprocess, tempfile, threading, time, urllib.parse, urllib.request
from benchlib import PG_BIN, ROOT, free_port, rss_mb, sh, wait_ready

ROWS = int(os.environ.get("ROWS", "1000000"))
COMPANIES, REQUESTS, CHUNK = 100, 200, 1000

db_url = os.environ.get("DATABASE_URL") or sh(os.path.join(ROOT, ".dev/db"), "url")
parts = urllib.parse.urlsplit(db_url)
# BENCH_DB=name keeps the seeded database for the next run (seeding takes about a minute).
keep = os.environ.get("BENCH_DB")
name = keep or f"atrium_bench_audit_{os.getpid()}"
admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
bench = urllib.parse.urlunsplit(parts._replace(path="/" + name))
exists = sh(f"{PG_BIN}/psql", admin, "-qAtc", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == "1"
if not exists:
    sh(f"{PG_BIN}/psql", admin, "-qc", f"CREATE DATABASE {name}")

def psql(sql):
    return sh(f"{PG_BIN}/psql", bench, "-qAtc", sql)

server = None
try:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "server", "--example", "audit_record"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target/release/atrium")
    env = dict(os.environ, DATABASE_URL=bench, RUST_LOG="warn", ATRIUM_DATA_DIR=tempfile.mkdtemp(),
               LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"), ATRIUM_WORKER="false")
    if not exists:
        sh(binary, "create-superadmin", "--email", "bench@atrium.test", env=dict(env, ATRIUM_PASSWORD="bench password 1234"))
        psql(f"""INSERT INTO companies (name, slug, audit_retention_days)
                        SELECT 'Company ' || i, 'co-' || i, 2557 FROM generate_series(1, {COMPANIES}) i;
                 SELECT atrium_ensure_partitions_between('audit_log', (now() - interval '13 months')::date, now()::date);""")

        # Retention is set to 7 years above: `atrium serve` prunes at start, and the default 90 days
        # would cut the year of rows to a quarter.
        # Oldest first, so each company's chain runs in time order; spaced evenly over a year. Row g goes
        # to company 1 + g % 100; the action and severity follow g / 100, so every company gets them all.
        actions = ["user.update", "api_key.create", "api_key.revoke", "weights.update", "integration.update",
                   "auth.login", "delivery.queue", "user.invite"]
        arr = "ARRAY[" + ",".join(f"'{a}'" for a in actions) + "]"
        step = 365 * 86400 / ROWS
        statements = []
        for lo in range(0, ROWS, CHUNK):
            statements.append(f"""INSERT INTO audit_log (company_id, "timestamp", user_email, user_role, action, resource, resource_id,
                        severity, details, ip_address, user_agent, session_id, request_id)
                SELECT c.id, now() - make_interval(secs => ({ROWS} - g) * {step}), 'user' || (g % 37) || '@co.test', 'ADMIN',
                       ({arr})[1 + (g / {COMPANIES}) % {len(actions)}], 'user', 'u-' || (g % 500),
                       (CASE WHEN (g / {COMPANIES}) % 50 = 0 THEN 'warning' ELSE 'info' END)::audit_severity,
                       jsonb_build_object('before', jsonb_build_object('name', 'Old ' || g), 'after', jsonb_build_object('name', 'New ' || g)),
                       '10.0.0.1', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131', 's-' || (g % 1000), 'r-' || g
                  FROM generate_series({lo + 1}, {min(lo + CHUNK, ROWS)}) g
                  JOIN companies c ON c.slug = 'co-' || (1 + g % {COMPANIES})
                 ORDER BY g;""")
        sql_file = os.path.join(env["ATRIUM_DATA_DIR"], "seed.sql")
        with open(sql_file, "w") as f:
            f.write("\n".join(statements) + "\nANALYZE audit_log;\n")
        t0 = time.time()
        sh(f"{PG_BIN}/psql", bench, "-qAt", "-v", "ON_ERROR_STOP=1", "-f", sql_file)
        seed_s = time.time() - t0
        print(f"seeded {ROWS:,} chained rows across {COMPANIES} companies in {seed_s:.1f} s ({ROWS / seed_s:,.0f} rows/s through the trigger)")

    port = free_port()
    server = subprocess.Popen([binary, "serve"], env=dict(env, ATRIUM_ADDR=f"127.0.0.1:{port}"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/readyz")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    def post(path, form):
        req = urllib.request.Request(base + path, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Origin": base, "Accept": "application/json"})
        return opener.open(req).read()
    post("/api/login", {"email": "bench@atrium.test", "password": "bench password 1234", "next": ""})
    post("/api/tenant/act-as", {"slug": "co-1", "reason": "Benchmark of the audit viewer"})

    def timed(url, check=None):
        body = opener.open(base + url).read()
        if check:
            assert check in body.decode(), f"{url}: {check!r} not on the page"
        samples = []
        for _ in range(REQUESTS):
            t = time.perf_counter(); opener.open(base + url).read(); samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        return samples[len(samples) // 2], samples[int(len(samples) * 0.95) - 1]

    healthz = timed("/healthz")
    d = lambda days: time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))
    cases = {
        "first page, unfiltered": ("/t/co-1/audit", ">user.update</td>"),
        "action + 90-day range": (f"/t/co-1/audit?action=auth.login&from={d(90)}&to={d(0)}", ">auth.login</td>"),
    }
    print(f"\nviewer pages, one company of {COMPANIES}, {REQUESTS} requests each "
          f"(GET /healthz p50 {healthz[0]:.2f} ms, p95 {healthz[1]:.2f} ms)")
    print(f"{'case':<26} {'p50 ms':>8} {'p95 ms':>8} {'p95 / 25 ms':>12} {'p50 / healthz':>14}")
    for label, (url, check) in cases.items():
        p50, p95 = timed(url, check)
        print(f"{label:<26} {p50:>8.2f} {p95:>8.2f} {p95 / 25:>11.2f}x {p50 / healthz[0]:>13.1f}x")

    def export(url):
        base_rss = rss_mb(server.pid)
        peak, done = [base_rss], threading.Event()
        def sample():
            while not done.is_set():
                peak.append(rss_mb(server.pid)); time.sleep(0.01)
        th = threading.Thread(target=sample); th.start()
        t = time.perf_counter()
        lines = 0
        with opener.open(base + url) as r:
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                lines += chunk.count(b"\n")  # a read can split "\r\n"; "\n" alone never splits
        secs = time.perf_counter() - t
        done.set(); th.join()
        return lines - 1, secs, base_rss, max(peak)

    print("\nexport as CSV (rows counted by line ends; no quoted line breaks in this data)")
    print(f"{'case':<26} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'/ 100k':>7} {'RSS before':>11} {'peak RSS':>9}")
    for label, url in [("one company", "/t/co-1/audit/export?format=csv"), ("every row (super-admin)", None)]:
        where = "WHERE company_id = (SELECT id FROM companies WHERE slug = 'co-1')"
        if url is None:
            post("/api/tenant/act-as/end", {})
            url, where = "/admin/audit/export?format=csv", ""
        present = int(psql(f"SELECT count(*) FROM audit_log {where}"))
        # A company's 10,000 rows take well under a second, so that case is the median of 5 runs.
        runs = sorted((export(url) for _ in range(1 if where == "" else 5)), key=lambda r: r[1])
        rows, secs, before, _ = runs[len(runs) // 2]
        peak = max(r[3] for r in runs)
        # The export's own record (and the read's) may land inside its snapshot, never fewer.
        assert present <= rows <= present + 2 * len(runs), f"{label}: exported {rows:,} of {present:,} rows"
        print(f"{label:<26} {rows:>10,} {secs:>8.2f} {rows / secs:>10,.0f} {rows / secs / 100_000:>6.2f}x {before:>9.1f} MB {peak:>6.1f} MB")

    company = psql("SELECT id FROM companies WHERE slug = 'co-2'")
    print("\naudit::record in a transaction (2,000 samples each, alternating)")
    print(sh(os.path.join(ROOT, "target/release/examples/audit_record"), bench, company, "2000"))

    t = time.perf_counter()
    out = sh(binary, "audit", "verify", env=env)
    secs = time.perf_counter() - t
    total = sum(int(n) for n in re.findall(r"intact, (\d+) rows", out))
    broken = out.count("BROKEN")
    print(f"\natrium audit verify: {total:,} rows in {len(out.splitlines())} chains, {broken} broken, "
          f"{secs:.2f} s, {total / secs:,.0f} rows/s")
finally:
    if server:
        server.terminate(); server.wait()
    if not keep:
        sh(f"{PG_BIN}/psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
