#!/usr/bin/env python3
"""Company list at 100k rows: seeds 100,000 companies (and 300,000 users) into a fresh
database, starts the release server against it, and times the list server function through
real HTTP: the first page, a page deep in the keyset, and a search. Each figure is printed
with its ratio to GET /healthz measured in the same run.

Usage: bench/companies_list.py  (needs DATABASE_URL, or run `.dev/db start` first; and a
built server: `.dev/run` or `cargo leptos build --release`)."""
import json, os, socket, subprocess, tempfile, time, urllib.parse, urllib.request, http.cookiejar
from benchlib import ROOT, sh

N_COMPANIES, REQUESTS = 100_000, 200
import hashlib
FRAGMENT = hashlib.md5(b"777").hexdigest()[2:8]  # inside company 777's name

db_url = os.environ.get("DATABASE_URL") or sh(os.path.join(ROOT, ".dev/db"), "url")
parts = urllib.parse.urlsplit(db_url)
name = f"atrium_bench_{os.getpid()}"
admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
bench = urllib.parse.urlunsplit(parts._replace(path="/" + name))
psql = "/usr/lib/postgresql/15/bin/psql"
sh(psql, admin, "-qc", f"CREATE DATABASE {name}")
server = None
try:
    binary = os.path.join(ROOT, "target/release/atrium")
    env = dict(os.environ, DATABASE_URL=bench, ATRIUM_PASSWORD="bench password 123", RUST_LOG="warn",
               ATRIUM_DATA_DIR=tempfile.mkdtemp())
    sh(binary, "create-superadmin", "--email", "bench@atrium.test", env=env)
    t0 = time.time()
    sh(psql, bench, "-qc", f"""
      INSERT INTO companies (name, slug, created_at)
        SELECT initcap(substr(md5(i::text), 1, 10)) || ' ' ||
                 (ARRAY['Labs','Group','Holdings','Partners','Foundation','Inc','Co','Systems'])[1 + i % 8],
               'company-' || i, now() - make_interval(secs => i)
        FROM generate_series(1, {N_COMPANIES}) i;
      INSERT INTO users (company_id, email, role)
        SELECT c.id, 'u' || k || '-' || c.slug || '@bench.test', 'VIEWER'
        FROM companies c, generate_series(1, 3) k;
      ANALYZE;""")
    print(f"seeded {N_COMPANIES:,} companies and {3*N_COMPANIES:,} users in {time.time()-t0:.1f} s")

    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    server = subprocess.Popen([binary, "serve"], env=dict(env, ATRIUM_ADDR=f"127.0.0.1:{port}",
                              LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site")),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/readyz"); break
        except Exception:
            time.sleep(0.1)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    def post(path, form):
        req = urllib.request.Request(base + path, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Origin": base, "Accept": "application/json"})
        return opener.open(req).read()
    post("/api/login", {"email": "bench@atrium.test", "password": "bench password 123", "next": ""})

    def timed(fn):
        fn()  # warm
        samples = []
        for _ in range(REQUESTS):
            t = time.perf_counter(); fn(); samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        return samples[len(samples) // 2], samples[int(len(samples) * 0.95) - 1]

    baseline = timed(lambda: opener.open(base + "/healthz").read())
    # A cursor deep in the list: walk 40 pages first.
    cursor = None
    for _ in range(40):
        page = json.loads(post("/api/companies/list", {"q": "", "sort": "name", **({"after": cursor} if cursor else {})}))
        cursor = page["next"]
    cases = {
        "first page, by name": {"q": "", "sort": "name"},
        "first page, newest": {"q": "", "sort": "newest"},
        "page 41, by name (keyset)": {"q": "", "sort": "name", "after": cursor},
        "search one name's fragment": {"q": FRAGMENT, "sort": "name"},
        "search a common word": {"q": "labs", "sort": "name"},
    }
    print(f"\n{REQUESTS} requests each; baseline GET /healthz p50 {baseline[0]:.2f} ms, p95 {baseline[1]:.2f} ms\n")
    print(f"{'case':<30} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
    for label, form in cases.items():
        p50, p95 = timed(lambda: post("/api/companies/list", form))
        print(f"{label:<30} {p50:>8.2f} {p95:>8.2f} {p50 / baseline[0]:>14.1f}x")
finally:
    if server:
        server.terminate(); server.wait()
    sh(psql, admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
