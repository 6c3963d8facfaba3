"""Starts a real groundcrewd on 127.0.0.1 (port 0, a temp data dir) for end-to-end tests and gives
boto3 clients and an AWS CLI runner pointed at it.

Environment:
  GC_BIN_DIR  folder with groundcrewd and groundcrew (default: build/bin beside this repo)
  GC_STORE    "sqlite" (default) or "postgres": the latter starts a throwaway PostgreSQL server
              with src/store/pg_test_server.sh and passes --store to groundcrewd.
  GC_AWS_CLI  the AWS CLI to run (default: `aws` on PATH; CTest also runs the suites with
              Debian's /usr/bin/aws under Debian's /usr/bin/python3 and its python3-boto3).
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import boto3
import botocore.config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("GC_BIN_DIR", os.path.join(REPO, "build", "bin"))
ACCOUNT = "123456789012"


class PostgresServer:
    """A throwaway PostgreSQL server in a temp dir (src/store/pg_test_server.sh)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gc-pg-")
        script = os.path.join(REPO, "src", "store", "pg_test_server.sh")
        out = subprocess.run(["bash", script, "start", self.dir],
                             capture_output=True, text=True, timeout=120)
        if out.returncode == 77:
            print(out.stderr, flush=True)
            raise unittest.SkipTest("POSTGRESQL TESTS SKIPPED: " + out.stderr.strip())
        if out.returncode != 0:
            raise RuntimeError("cannot start PostgreSQL: " + out.stderr)
        self.url = next(l for l in out.stdout.splitlines() if l.startswith("postgres"))

    def stop(self):
        script = os.path.join(REPO, "src", "store", "pg_test_server.sh")
        subprocess.run(["bash", script, "stop", self.dir], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """One groundcrewd process. start() waits for its ready line."""

    def __init__(self, data_dir=None, store=None, extra=()):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="gc-e2e-")
        self.store = store
        self.extra = list(extra)
        self.proc = None
        self.endpoint = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self, listen="127.0.0.1:0"):
        args = [os.path.join(BIN, "groundcrewd"), "--listen", listen, "--data-dir",
                self.data_dir, "--dev", "--account-id", ACCOUNT] + self.extra
        if self.store:
            args += ["--store", self.store]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            if line.startswith("groundcrewd ready on "):
                self.endpoint = line.split()[-1]
                break
        if not self.endpoint:
            raise RuntimeError("groundcrewd did not become ready; log: " + self.log_path)
        with open(os.path.join(self.data_dir, "credentials.json")) as f:
            creds = json.load(f)
        self.access_key = creds["access_key_id"]
        self.secret_key = creds["secret_access_key"]
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.log.close()

    def env(self):
        env = dict(os.environ)
        env.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        })
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        return env

    def client(self, service, region="us-east-1", secret=None):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret or self.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 0}))

    def cli(self, *args, check=True):
        """Runs the real AWS CLI; returns parsed JSON output (or None). Raises on failure when
        check, else returns (returncode, stdout, stderr)."""
        cmd = [os.environ.get("GC_AWS_CLI", "aws"), "--endpoint-url", self.endpoint, "--output", "json"] + list(args)
        out = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=60)
        if not check:
            return out.returncode, out.stdout, out.stderr
        if out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def reset(self):
        import urllib.request
        req = urllib.request.Request(self.endpoint + "/_groundcrew/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=10).read()


_pg = None


def store_url():
    """The --store value for this run, starting PostgreSQL once when GC_STORE=postgres."""
    global _pg
    if os.environ.get("GC_STORE", "sqlite") != "postgres":
        return None
    if _pg is None:
        _pg = PostgresServer()
    return _pg.url


class ServerTestCase(unittest.TestCase):
    """One server per test class; state reset before each test."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(store=store_url()).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.server.reset()


def main():
    try:
        unittest.main(verbosity=2)
    finally:
        if _pg is not None:
            _pg.stop()
