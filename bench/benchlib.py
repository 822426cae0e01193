"""What the benchmarks share: a fresh database beside the dev one, the release server started
against it, wrk with a reporting script, and pg_stat_statements counts.

Each benchmark prints its figures as ratios to a baseline measured in the same run."""
import contextlib, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BIN = "/usr/lib/postgresql/15/bin"
BINARY = os.path.join(ROOT, "target/release/atrium")
SECRET = "bench secret key, long enough to be accepted as one"


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout.strip()


def psql(url, sql):
    return sh(f"{PG_BIN}/psql", url, "-qtAc", sql)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_ready(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url); return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} never answered")


def require_release_build():
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: build it with `.dev/run` or `cargo leptos build --release`")


@contextlib.contextmanager
def fresh_database(tag):
    """A database of its own on the dev cluster (DATABASE_URL or `.dev/db`), dropped after."""
    db_url = os.environ.get("DATABASE_URL") or sh(os.path.join(ROOT, ".dev/db"), "url")
    parts = urllib.parse.urlsplit(db_url)
    name = f"atrium_bench_{tag}_{os.getpid()}"
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
    psql(admin, f"CREATE DATABASE {name}")
    try:
        yield url
    finally:
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_env(database_url, **extra):
    return dict(os.environ, DATABASE_URL=database_url, RUST_LOG="warn", ATRIUM_DATA_DIR=tempfile.mkdtemp(),
                ATRIUM_SECRET_KEY=SECRET, LEPTOS_SITE_ROOT=os.path.join(ROOT, "target/site"), **extra)


@contextlib.contextmanager
def atrium_server(env):
    """`atrium serve` on a free port; yields (process, base URL)."""
    port = free_port()
    p = subprocess.Popen([BINARY, "serve"], env=dict(env, ATRIUM_ADDR=f"127.0.0.1:{port}"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/readyz")
        yield p, base
    finally:
        p.terminate(); p.wait()


WRK_LUA = r"""
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body; wrk.headers["Content-Type"] = "application/json" end
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
-- A fast wrong answer must not count: with BENCH_EXPECT set, a body without it is an error.
local threads = {}
function setup(thread) table.insert(threads, thread) end
local expect = os.getenv("BENCH_EXPECT")
if expect and expect ~= "" then
  wrong = 0
  function response(status, headers, body)
    if not string.find(body, expect, 1, true) then wrong = wrong + 1 end
  end
end
function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  for _, t in ipairs(threads) do bad = bad + (t:get("wrong") or 0) end
  io.write(string.format("JSON{\"requests\":%d,\"seconds\":%f,\"p50\":%f,\"p99\":%f,\"errors\":%d}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
"""


def wrk(url, connections, seconds, method="GET", body="", auth="", cookie="", expect=""):
    """wrk's figures: rps, p50 and p99 (ms), errors (non-2xx/3xx, socket errors, wrong bodies)."""
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    lua = os.path.join(tempfile.mkdtemp(), "bench.lua")
    open(lua, "w").write(WRK_LUA)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", lua, url],
                         capture_output=True, text=True,
                         env=dict(os.environ, BENCH_METHOD=method, BENCH_BODY=body, BENCH_AUTH=auth,
                                  BENCH_COOKIE=cookie, BENCH_EXPECT=expect))
    m = re.search(r"JSON(\{.*\})", out.stdout)
    if not m:
        sys.exit(f"wrk failed: {out.stdout}{out.stderr}")
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / r["seconds"]
    return r


def statements_snapshot(database_url):
    """Calls per statement so far in this database by the roles requests run as, leaving out
    what a connection runs once when opened (its limits, sqlx's type lookups)."""
    rows = psql(database_url, """
      SELECT sum(calls)::int8, regexp_replace(query, '\s+', ' ', 'g') FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND userid IN ('atrium_app'::regrole, 'atrium_platform'::regrole)
         AND query NOT LIKE '%pg_catalog.%' AND query NOT LIKE '%::regtype%'
         AND query NOT LIKE 'SET statement_timeout%' AND query NOT LIKE 'SET idle_in_transaction%'
       GROUP BY 2""")
    out = {}
    for line in rows.splitlines():
        n, _, q = line.partition("|")
        out[q] = int(n)
    return out


def statements_between(before, after):
    return sum(n - before.get(q, 0) for q, n in after.items())


def rss_mb(pid):
    """The process's resident memory now, or NaN once it has gone."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def rss_peak_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids):
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids():
    out = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def wrk_with_cpu(url, connections, seconds, server_pid, **kw):
    """wrk's figures, plus the CPU one request cost Atrium and PostgreSQL (microseconds)."""
    a0, g0 = cpu_seconds([server_pid]), cpu_seconds(postgres_pids())
    r = wrk(url, connections, seconds, **kw)
    a1, g1 = cpu_seconds([server_pid]), cpu_seconds(postgres_pids())
    n = max(r["rps"] * seconds, 1)
    r["atrium_us"] = 1e6 * (a1 - a0) / n
    r["postgres_us"] = 1e6 * (g1 - g0) / n
    return r
