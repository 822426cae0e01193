#!/usr/bin/env python3
"""Mixed traffic against the release binary, then a check that nothing was lost.

For LOAD_SECONDS (60), LOAD_CLIENTS (16) clients each pick, request after request, one of:
  sign_in     POST /api/login (argon2), over every seeded account     -> an auth.login audit row
  page        a console page, signed in (every tenant page)
  fn_write    POST /api/audit/retention, a server function (a legal hold with a new reason each
              time: an unchanged setting writes nothing)            -> an audit.retention_update row
  rest_read   GET /api/v1/company or /api/v1/weights/{sroi,vis}
  rest_write  PUT /api/v1/weights/sroi                               -> a weights.update row
  delivery    POST /api/v1/integrations/benevity/deliveries          -> a delivery.queue row, then a
              signed POST to a local receiver by the worker inside `atrium serve`

It prints p50/p99 and the statuses per kind, the 5xx count (target 0), and compares, per
action, the audit rows written during the run with the mutations the clients saw succeed
(target: equal), then waits for the outbox to drain and counts what the receiver got.

Usage: bench/load.py  (DATABASE_URL or `.dev/db start`; a release build: `.dev/run` builds it)."""
import http.client, http.server, json, os, random, sys, threading, time, urllib.parse
from benchlib import BINARY, atrium_server, fresh_database, psql, require_release_build, server_env, sh

SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "16"))
KINDS = [("sign_in", 3), ("page", 40), ("fn_write", 10), ("rest_read", 25), ("rest_write", 10), ("delivery", 12)]
AUDITED = {"sign_in": "auth.login", "fn_write": "audit.retention_update", "rest_write": "weights.update",
           "delivery": "delivery.queue"}


class Receiver(http.server.BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.hits += 1
        self.send_response(204); self.end_headers()

    def log_message(self, *args):
        pass


def start_receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, base):
        self.u = urllib.parse.urlsplit(base)
        self.base = base
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.u.hostname, self.u.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, r.getheader("Set-Cookie")
            except (http.client.HTTPException, OSError):
                self.conn.close(); self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def form(fields):
    return urllib.parse.urlencode(fields)


def main():
    require_release_build()
    with fresh_database("load") as db:
        env = server_env(db, ATRIUM_ENV="development", ATRIUM_WORKER_BACKOFF_MS="200")
        sh(BINARY, "seed", "--demo", env=env)
        password = open(os.path.join(env["ATRIUM_DATA_DIR"], "demo-password.txt")).read().strip()
        slug = psql(db, "SELECT slug FROM companies WHERE name = 'Acme Corporation'")
        key = sh(BINARY, "api-key", "create", "--company", slug, "--name", "load", "--expires-in", "90d",
                 "--scopes", "read:company,read:weights,write:weights,write:deliveries", env=env).splitlines()[-1]
        rport = start_receiver()
        admin_email = f"admin@{slug}.example"
        # Sign-ins rotate over every seeded account: one account signing in many times at once
        # is what the throttle stops (it counts an attempt before checking its password).
        accounts = psql(db, "SELECT email FROM users WHERE email LIKE '%.example' ORDER BY email").split()
        with atrium_server(env) as (server, base):
            origin = {"Origin": base, "Accept": "application/json",
                      "Content-Type": "application/x-www-form-urlencoded"}
            setup = Client(base)
            status, _, cookie = setup.request("POST", "/api/login", form({"email": admin_email, "password": password,
                                                                             "next": ""}), origin)
            assert status == 200, status
            cookie = cookie.split(";")[0]
            status, body, _ = setup.request("POST", "/api/integrations/save", form({
                "slug": slug, "platform": "benevity", "enabled": "on", "endpoint": f"http://127.0.0.1:{rport}/hook",
                "config": '{"program_id": "load"}', "api_token": "tok_load_12345678",
                "signing_secret": "whsec_" + "TE9BRExPQURMT0FETE9BRExPQURMT0FETE9BRExPQUQ=",
            }), dict(origin, Cookie=cookie))
            assert status == 200, (status, body)
            t = f"/t/{slug}"
            pages = [f"{t}/", f"{t}/users", f"{t}/roles", f"{t}/api-keys", f"{t}/weights/sroi",
                     f"{t}/weights/sroi/history", f"{t}/integrations", f"{t}/integrations/benevity",
                     f"{t}/deliveries", f"{t}/audit", "/account"]
            before = {a: int(psql(db, f"SELECT count(*) FROM audit_log WHERE action = '{a}'")) for a in AUDITED.values()}

            lock = threading.Lock()
            latencies = {k: [] for k, _ in KINDS}
            statuses = {k: {} for k, _ in KINDS}
            succeeded = {k: 0 for k in AUDITED}
            errors = []
            examples = {}
            deadline = time.time() + SECONDS
            population = [k for k, w in KINDS for _ in range(w)]
            sequence = [0]

            def one(c, kind):
                with lock:
                    sequence[0] += 1
                    n = sequence[0]
                bearer = {"Authorization": f"Bearer {key}"}
                if kind == "sign_in":
                    return c.request("POST", "/api/login", form({"email": accounts[n % len(accounts)],
                                                                 "password": password, "next": ""}), origin)[:2]
                if kind == "page":
                    return c.request("GET", random.choice(pages), headers={"Cookie": cookie})[:2]
                if kind == "fn_write":
                    # A new hold reason every time: an unchanged setting writes nothing.
                    return c.request("POST", "/api/audit/retention", form({"slug": slug, "days": "400", "legal_hold": "on",
                                                                            "legal_hold_reason": f"load {n}"}),
                                     dict(origin, Cookie=cookie))[:2]
                if kind == "rest_read":
                    return c.request("GET", random.choice(["/api/v1/company", "/api/v1/weights/sroi",
                                                           "/api/v1/weights/vis"]), headers=bearer)[:2]
                if kind == "rest_write":
                    # Within its bounds, below a skilled hour's default, and not the value in force
                    # (that is refused: "nothing changed"), so every one is accepted.
                    body = json.dumps({"weights": {"volunteer_hour_value": 20 + (n % 2000) / 100},
                                       "reason": f"load {n}"})
                    return c.request("PUT", "/api/v1/weights/sroi", body,
                                     dict(bearer, **{"Content-Type": "application/json"}))[:2]
                body = json.dumps({"type": "hours.logged", "data": {"n": n, "hours": n % 8}})
                return c.request("POST", "/api/v1/integrations/benevity/deliveries", body,
                                 dict(bearer, **{"Content-Type": "application/json"}))[:2]

            def client():
                c = Client(base)
                while time.time() < deadline:
                    kind = random.choice(population)
                    started = time.perf_counter()
                    try:
                        status, body = one(c, kind)
                    except Exception as e:  # a dropped connection is a failure of the run, not of one kind
                        with lock:
                            errors.append(f"{kind}: {e!r}")
                        continue
                    ms = (time.perf_counter() - started) * 1000
                    with lock:
                        latencies[kind].append(ms)
                        statuses[kind][status] = statuses[kind].get(status, 0) + 1
                        if status >= 400 and (kind, status) not in examples:
                            examples[(kind, status)] = body[:300].decode(errors="replace")
                        # Deliveries: 202 queued (200 would be a duplicate, which writes no row).
                        if kind in AUDITED and status == (202 if kind == "delivery" else 200):
                            succeeded[kind] += 1

            threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
            for th in threads: th.start()
            for th in threads: th.join()

            print(f"{CLIENTS} clients, {SECONDS} s, release build, one `atrium serve` (worker inside) on 2 cores\n")
            print(f"{'kind':<11} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
            total = fivexx = 0
            for kind, _ in KINDS:
                s = sorted(latencies[kind]) or [float("nan")]
                total += len(latencies[kind])
                fivexx += sum(n for code, n in statuses[kind].items() if code >= 500)
                codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses[kind].items()))
                print(f"{kind:<11} {len(latencies[kind]):>9} {s[len(s) // 2]:>8.1f} {s[max(0, int(len(s) * 0.99) - 1)]:>8.1f}  {codes}")
            for (kind, status), body in sorted(examples.items()):
                print(f"  first {status} to {kind}: {body}")
            print(f"\n{total} requests ({total / SECONDS:.0f}/s), 5xx: {fivexx} (target 0), connection errors: {len(errors)}")
            for e in errors[:5]:
                print("  ", e)

            print("\naudit rows written vs mutations that succeeded (target: equal)")
            mismatches = 0
            for kind, action in AUDITED.items():
                written = int(psql(db, f"SELECT count(*) FROM audit_log WHERE action = '{action}'")) - before[action]
                ok = written == succeeded[kind]
                mismatches += not ok
                print(f"  {action:<24} {written:>7} rows  {succeeded[kind]:>7} successes  {'ok' if ok else 'MISMATCH'}")

            started = time.time()
            while int(psql(db, "SELECT count(*) FROM integration_delivery_log WHERE status <> 'success'")) > 0:
                if time.time() - started > 120:
                    break
                time.sleep(0.5)
            pending = int(psql(db, "SELECT count(*) FROM integration_delivery_log WHERE status <> 'success'"))
            delivered = int(psql(db, "SELECT count(*) FROM integration_delivery_log WHERE status = 'success'"))
            print(f"\ndeliveries: {delivered} sent, {pending} not sent {time.time() - started:.1f} s after the run, "
                  f"receiver got {Receiver.hits}")
            failed = fivexx or errors or mismatches or pending or Receiver.hits < delivered
            sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
