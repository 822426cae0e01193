#!/usr/bin/env python3
"""schemathesis over /api/v1/openapi.json, with a key holding every scope, against the release
binary on a fresh database. Installs schemathesis into .data/fuzz-venv on first use.

Every check schemathesis has (no 5xx, documented statuses, content types, headers and
response schemas, schema-violating input refused, ...) but one, with NUL bytes allowed in
generated strings (one worker: two threads trip a CPython 3.11 bug in hypothesis' lambda
introspection, "AST constructor recursion depth mismatch"). Targets: 0 server errors, 0 schema violations, at least 1,000 cases.
FUZZ_EXAMPLES (200) cases per operation per phase.

Left out: positive_data_acceptance ("schema-valid input must be accepted"). Atrium validates
more than a JSON Schema can say, and answers it with a documented 422 or 400: VIS weights must
sum to 1, a skilled hour is worth at least a general one, deadweight plus attribution stays
below 1, and text nested anywhere in a delivery's free-form `data` holds no control characters.

Usage: bench/fuzz.py  (a release build; DATABASE_URL or `.dev/db start`)."""
import json, os, re, subprocess, sys
from benchlib import BINARY, ROOT, atrium_server, fresh_database, psql, require_release_build, server_env, sh

EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "200")
VENV = os.path.join(ROOT, ".data/fuzz-venv")
SCOPES = "read:company,read:metrics,read:weights,write:weights,read:audit,write:deliveries"


def schemathesis():
    exe = os.path.join(VENV, "bin/schemathesis")
    if not os.path.exists(exe):
        print("installing schemathesis into .data/fuzz-venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin/pip"), "install", "-q", "schemathesis"], check=True)
    return exe


def main():
    require_release_build()
    st = schemathesis()
    with fresh_database("fuzz") as db:
        env = server_env(db, ATRIUM_ENV="development", ATRIUM_WORKER="false")
        sh(BINARY, "seed", "--demo", env=env)
        slug = psql(db, "SELECT slug FROM companies WHERE name = 'Acme Corporation'")
        key = sh(BINARY, "api-key", "create", "--company", slug, "--name", "fuzz", "--expires-in", "90d",
                 "--scopes", SCOPES, env=env).splitlines()[-1]
        report = os.path.join(env["ATRIUM_DATA_DIR"], "report.json")
        with atrium_server(env) as (_, base):
            r = subprocess.run(
                [st, "run", f"{base}/api/v1/openapi.json", "--url", base, "-H", f"Authorization: Bearer {key}",
                 "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", EXAMPLES, "--generation-allow-x00", "true",
                 "--workers", "1", "--seed", "1", "--no-color", "--suppress-health-check", "all",
                 "--report", "json", "--report-json-path", report],
                capture_output=True, text=True)
        out = r.stdout + r.stderr
        print(out[-6000:])
        open(os.environ.get("FUZZ_LOG", "/tmp/fuzz.log"), "w").write(out)
        cases = sum(int(n) for n in re.findall(r"(\d+) generated", out)) or None
        try:
            data = json.load(open(report))
            print(f"report: {report} ({', '.join(data.keys()) if isinstance(data, dict) else ''})")
        except (OSError, ValueError):
            pass
        print(f"schemathesis exit {r.returncode}; cases counted in its summary: {cases}")
        sys.exit(r.returncode)


if __name__ == "__main__":
    main()
