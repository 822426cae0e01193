#!/usr/bin/env python3
"""Console pages, signed in, against a bare leptos SSR page served by the same binary in the
same run (`/login` for an anonymous visitor: the frame, no session, no SQL).

Default: for every console page, wrk at 16 connections for BENCH_SECONDS (10) prints req/s, its
ratio to the bare page, p50/p99, and the SQL statements one view runs (pg_stat_statements).
Targets (issue 15): at most 12 statements per page; the users page at 0.5x the bare page.

`--soak [SECONDS]` (600 by default): 16 clients render every console page in turn, each request
with a 5 s timeout, and print the stalls (timeouts; target 0) and p50/p99 per page.

Usage: bench/pages.py [--soak [SECONDS]]  (needs wrk; DATABASE_URL or `.dev/db start`, on a
cluster that preloads pg_stat_statements as `.dev/lib.sh` makes it; and a release build)."""
import http.client, http.cookiejar, os, random, sys, threading, time, urllib.parse, urllib.request
from benchlib import (BINARY, atrium_server, fresh_database, psql, require_release_build, server_env, sh,
                      statements_between, statements_snapshot, wrk, wrk_with_cpu)

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 16
PASSWORD = "bench password 123"


def sign_in(base, email, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(base + "/api/login", headers={"Origin": base, "Accept": "application/json"},
                                 data=urllib.parse.urlencode({"email": email, "password": password, "next": ""}).encode())
    opener.open(req).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "atrium_session" not in cookie:
        sys.exit(f"signing in as {email} failed")
    return cookie


def get(base, path, cookie, timeout=10):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    r = conn.getresponse(); r.read(); conn.close()
    return r.status


def measure(db, base, pages):
    rows = []
    for label, path, cookie in pages:
        assert get(base, path, cookie) == 200, path  # warm, and the page must work
        before = statements_snapshot(db)
        get(base, path, cookie)
        stmts = statements_between(before, statements_snapshot(db))
        r = wrk(base + path, CONNECTIONS, SECONDS, cookie=cookie)
        rows.append((label, path, stmts, r))
    return rows


def soak(base, pages, seconds):
    lock = threading.Lock()
    latencies = {p: [] for _, p, _ in pages}
    stalls = {p: 0 for _, p, _ in pages}
    failures = {p: 0 for _, p, _ in pages}
    deadline = time.time() + seconds

    def client():
        order = list(pages)
        while time.time() < deadline:
            random.shuffle(order)
            for _, path, cookie in order:
                t = time.perf_counter()
                try:
                    status = get(base, path, cookie, timeout=5)
                    ms = (time.perf_counter() - t) * 1000
                    with lock:
                        latencies[path].append(ms)
                        if status != 200:
                            failures[path] += 1
                except (TimeoutError, OSError):
                    with lock:
                        stalls[path] += 1

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(f"soak: {CONNECTIONS} clients, {seconds} s, 5 s timeout per request\n")
    print(f"{'page':<34} {'views':>7} {'p50 ms':>8} {'p99 ms':>8} {'stalls':>7} {'not 200':>8}")
    for label, path, _ in pages:
        s = sorted(latencies[path]) or [float("nan")]
        print(f"{label:<34} {len(latencies[path]):>7} {s[len(s)//2]:>8.1f} {s[int(len(s)*0.99)-1]:>8.1f} "
              f"{stalls[path]:>7} {failures[path]:>8}")
    total = sum(stalls.values())
    print(f"\nstalls: {total} (target 0)")
    return total


def main():
    require_release_build()
    soak_seconds = None
    if "--soak" in sys.argv:
        i = sys.argv.index("--soak")
        soak_seconds = int(sys.argv[i + 1]) if len(sys.argv) > i + 1 else 600
    with fresh_database("pages") as db:
        env = server_env(db, ATRIUM_ENV="development", ATRIUM_PASSWORD=PASSWORD)
        sh(BINARY, "seed", "--demo", env=env)
        demo_password = open(os.path.join(env["ATRIUM_DATA_DIR"], "demo-password.txt")).read().strip()
        sh(BINARY, "create-superadmin", "--email", "root@bench.test", env=env)
        psql(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        slug = psql(db, "SELECT slug FROM companies WHERE name = 'Acme Corporation'")
        member = psql(db, f"SELECT id FROM users WHERE email = 'viewer@{slug}.example'")
        company = psql(db, f"SELECT id FROM companies WHERE slug = '{slug}'")
        with atrium_server(env) as (server, base):
            admin = sign_in(base, f"admin@{slug}.example", demo_password)
            root = sign_in(base, "root@bench.test", PASSWORD)
            t = f"/t/{slug}"
            pages = [(label, path, admin) for label, path in [
                ("company overview", f"{t}/"), ("users", f"{t}/users"), ("invite a user", f"{t}/users/invite"),
                ("a user", f"{t}/users/{member}"), ("roles", f"{t}/roles"), ("API keys", f"{t}/api-keys"),
                ("new API key", f"{t}/api-keys/new"), ("SROI weights", f"{t}/weights/sroi"),
                ("weight history", f"{t}/weights/sroi/history"), ("integrations", f"{t}/integrations"),
                ("an integration", f"{t}/integrations/benevity"), ("deliveries", f"{t}/deliveries"),
                ("audit log", f"{t}/audit"), ("account", "/account")]]
            pages += [(label, path, root) for label, path in [
                ("admin overview", "/admin"), ("companies", "/admin/companies"),
                ("a company (admin)", f"/admin/companies/{company}"), ("audit log (all)", "/admin/audit")]]
            if soak_seconds:
                sys.exit(1 if soak(base, pages, soak_seconds) else 0)
            bare = wrk(base + "/login", CONNECTIONS, SECONDS)
            print(f"{CONNECTIONS} connections, {SECONDS} s per page, release build\n")
            print(f"{'page':<22} {'SQL':>4} {'req/s':>8} {'x bare':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
            print(f"{'bare SSR (/login)':<22} {0:>4} {bare['rps']:>8.0f} {1:>7.2f} {bare['p50']:>7.2f} {bare['p99']:>7.2f} {bare['errors']:>6}")
            for label, path, stmts, r in measure(db, base, pages):
                print(f"{label:<22} {stmts:>4} {r['rps']:>8.0f} {r['rps']/bare['rps']:>7.2f} {r['p50']:>7.2f} "
                      f"{r['p99']:>7.2f} {r['errors']:>6}")
            # Where a view's time goes: CPU per request in each process (2 cores shared with wrk).
            users = f"{t}/users"
            print("\nCPU per request (microseconds)       Atrium  PostgreSQL   req/s")
            for label, path, cookie in [("bare SSR (/login)", "/login", ""), ("users, actor kept", users, admin)]:
                r = wrk_with_cpu(base + path, CONNECTIONS, SECONDS, server.pid, cookie=cookie)
                print(f"{label:<34} {r['atrium_us']:>7.0f} {r['postgres_us']:>11.0f} {r['rps']:>7.0f}")
        # The same users page with every request loading its actor (ATRIUM_ACTOR_CACHE=false).
        with atrium_server(dict(env, ATRIUM_ACTOR_CACHE="false")) as (server, base):
            admin = sign_in(base, f"admin@{slug}.example", demo_password)
            path = f"/t/{slug}/users"
            assert get(base, path, admin) == 200
            before = statements_snapshot(db)
            get(base, path, admin)
            stmts = statements_between(before, statements_snapshot(db))
            r = wrk_with_cpu(base + path, CONNECTIONS, SECONDS, server.pid, cookie=admin)
            print(f"{'users, actor cache off':<34} {r['atrium_us']:>7.0f} {r['postgres_us']:>11.0f} {r['rps']:>7.0f}"
                  f"   ({stmts} statements per view)")


if __name__ == "__main__":
    main()
