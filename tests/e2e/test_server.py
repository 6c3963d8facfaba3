"""The server as a whole: SigV4 refusals, protocol errors in AWS's shapes, STS, health and dev
endpoints, TLS, graceful shutdown, and durability across kill -9."""
import datetime
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions

import harness


def raw(server, body, target="AmazonSSM.GetParameter", secret=None, date=None, sign=True,
        service="ssm", content_type="application/x-amz-json-1.1", region="us-east-1"):
    """Sends one hand-made request; returns (status, headers, body bytes)."""
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    req = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                                         headers=headers)
    if sign:
        creds = botocore.credentials.Credentials(server.access_key, secret or server.secret_key)
        signer = botocore.auth.SigV4Auth(creds, service, region)
        if date is not None:
            # botocore takes the signing time from datetime.now; sign with a fixed time instead.
            orig = botocore.auth.datetime.datetime
            class Fixed(orig):
                @classmethod
                def utcnow(cls):
                    return date
                @classmethod
                def now(cls, tz=None):
                    return date.replace(tzinfo=tz) if tz else date
            botocore.auth.datetime.datetime = Fixed
            try:
                signer.add_auth(req)
            finally:
                botocore.auth.datetime.datetime = orig
        else:
            signer.add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=prepared.body, method="POST",
                               headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class AuthAndProtocolTest(harness.ServerTestCase):
    def test_health(self):
        with urllib.request.urlopen(self.server.endpoint + "/_groundcrew/health") as r:
            self.assertEqual(json.loads(r.read()), {"status": "ok"})

    def test_sts_get_caller_identity(self):
        ident = self.server.client("sts").get_caller_identity()
        self.assertEqual(ident["Account"], "123456789012")
        self.assertEqual(ident["Arn"], "arn:aws:iam::123456789012:root")
        out = self.server.cli("sts", "get-caller-identity")
        self.assertEqual(out["Account"], "123456789012")

    def test_wrong_secret_refused_and_changes_nothing(self):
        bad = self.server.client("ssm", secret="x" * 40)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            bad.put_parameter(Name="/w", Value="1", Type="String")
        self.assertEqual(c.exception.response["Error"]["Code"], "InvalidSignatureException")
        self.assertEqual(c.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        with self.assertRaises(botocore.exceptions.ClientError):
            self.server.client("ssm").get_parameter(Name="/w")
        sts = self.server.client("sts", secret="x" * 40)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            sts.get_caller_identity()
        self.assertEqual(c.exception.response["Error"]["Code"], "SignatureDoesNotMatch")

    def test_unknown_access_key(self):
        import boto3
        c = boto3.client("ssm", endpoint_url=self.server.endpoint, region_name="us-east-1",
                         aws_access_key_id="AKIDUNKNOWN000000000", aws_secret_access_key="x")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            c.describe_parameters()
        self.assertEqual(e.exception.response["Error"]["Code"], "UnrecognizedClientException")

    def test_old_date_refused(self):
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
        status, _, body = raw(self.server, b'{"Name":"/x"}', date=old)
        self.assertEqual(status, 400)
        err = json.loads(body)
        self.assertEqual(err["__type"], "InvalidSignatureException")
        self.assertIn("Signature expired", err["message"])

    def test_no_signature_refused(self):
        status, headers, body = raw(self.server, b'{"Name":"/x","Value":"1","Type":"String"}',
                                    target="AmazonSSM.PutParameter", sign=False)
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body)["__type"], "MissingAuthenticationTokenException")
        self.assertTrue(any(k.lower() == "x-amzn-requestid" for k in headers))
        self.assertEqual(self.server.client("ssm").describe_parameters()["Parameters"], [])

    def test_tampered_body_refused(self):
        # Sign one body, send another: the payload hash no longer matches.
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=self.server.endpoint + "/", data=b'{"Name":"/a"}',
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "AmazonSSM.GetParameter"})
        creds = botocore.credentials.Credentials(self.server.access_key, self.server.secret_key)
        botocore.auth.SigV4Auth(creds, "ssm", "us-east-1").add_auth(req)
        p = req.prepare()
        r = urllib.request.Request(p.url, data=b'{"Name":"/b"}', method="POST",
                                   headers=dict(p.headers))
        with self.assertRaises(urllib.error.HTTPError) as c:
            urllib.request.urlopen(r, timeout=10)
        self.assertEqual(json.loads(c.exception.read())["__type"], "InvalidSignatureException")

    def test_unknown_operation_and_malformed_body(self):
        status, headers, body = raw(self.server, b"{}", target="AmazonSSM.NoSuchThing")
        self.assertEqual((status, json.loads(body)["__type"]), (400, "UnknownOperationException"))
        status, _, body = raw(self.server, b"{not json", target="AmazonSSM.GetParameter")
        self.assertEqual((status, json.loads(body)["__type"]), (400, "SerializationException"))
        status, _, body = raw(self.server, b'{"Name": 5}', target="AmazonSSM.GetParameter")
        self.assertEqual((status, json.loads(body)["__type"]), (400, "SerializationException"))

    def test_validation_message_in_aws_words(self):
        status, headers, body = raw(self.server, b'{"Value":"1","Type":"Strin"}',
                                    target="AmazonSSM.PutParameter")
        err = json.loads(body)
        self.assertEqual((status, err["__type"]), (400, "ValidationException"))
        self.assertEqual(
            err["message"],
            "2 validation errors detected: Value null at 'name' failed to satisfy constraint: "
            "Member must not be null; Value 'Strin' at 'type' failed to satisfy constraint: "
            "Member must satisfy enum value set: [String, StringList, SecureString]")
        self.assertTrue(any(k.lower() == "x-amzn-requestid" for k in headers))

    def test_query_protocol_errors(self):
        status, _, body = raw(self.server, b"Action=NoSuch&Version=2011-06-15", target=None,
                              service="sts", content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>InvalidAction</Code>", body)
        status, _, body = raw(self.server, b"Action=GetCallerIdentity&Version=2011-06-15",
                              target=None, service="sts", sign=False,
                              content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 403)
        self.assertIn(b"MissingAuthenticationToken", body)

    def test_presigned_query_string(self):
        import botocore.auth
        creds = botocore.credentials.Credentials(self.server.access_key, self.server.secret_key)
        req = botocore.awsrequest.AWSRequest(
            method="GET",
            url=self.server.endpoint + "/?Action=GetCallerIdentity&Version=2011-06-15")
        botocore.auth.SigV4QueryAuth(creds, "sts", "us-east-1", expires=60).add_auth(req)
        url = req.prepare().url
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read()
        self.assertIn(b"<Account>123456789012</Account>", body)
        # The same URL with a changed parameter is refused.
        bad = url.replace("Version=2011-06-15", "Version=2011-06-16")
        with self.assertRaises(urllib.error.HTTPError) as c:
            urllib.request.urlopen(bad, timeout=10)
        self.assertIn(b"SignatureDoesNotMatch", c.exception.read())

    def test_reset(self):
        ssm = self.server.client("ssm")
        ssm.put_parameter(Name="/gone", Value="1", Type="String")
        req = urllib.request.Request(self.server.endpoint + "/moto-api/reset", method="POST",
                                     data=b"")
        urllib.request.urlopen(req, timeout=10).read()
        self.assertEqual(ssm.describe_parameters()["Parameters"], [])


class ServerLifecycleTest(unittest.TestCase):
    def test_reset_is_404_without_dev_and_credentials_are_private(self):
        d = tempfile.mkdtemp(prefix="gc-e2e-")
        s = harness.Server(data_dir=d)
        s.extra = []
        args = [os.path.join(harness.BIN, "groundcrewd"), "--listen", "127.0.0.1:0", "--data-dir", d]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            endpoint = None
            for _ in range(20):
                line = p.stdout.readline().decode()
                if line.startswith("groundcrewd ready on "):
                    endpoint = line.split()[-1]
                    break
            self.assertIsNotNone(endpoint)
            req = urllib.request.Request(endpoint + "/_groundcrew/reset", method="POST", data=b"")
            with self.assertRaises(urllib.error.HTTPError) as c:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(c.exception.code, 404)
            self.assertEqual(os.stat(d + "/credentials.json").st_mode & 0o777, 0o600)
            creds = json.load(open(d + "/credentials.json"))
            self.assertRegex(creds["account_id"], r"^[0-9]{12}$")
            self.assertNotEqual(creds["access_key_id"], "")
            # groundcrew env points the AWS CLI at it.
            env_out = subprocess.run([os.path.join(harness.BIN, "groundcrew"), "env",
                                      "--data-dir", d], capture_output=True, text=True, check=True)
            script = env_out.stdout + "\naws sts get-caller-identity --output json\n"
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env["AWS_CONFIG_FILE"] = "/dev/null"
            env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
            out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["Account"], creds["account_id"])
        finally:
            p.terminate()
            p.wait(timeout=20)
            shutil.rmtree(d, ignore_errors=True)

    def test_tls_self_signed(self):
        s = harness.Server(extra=["--tls-self-signed"]).start()
        try:
            self.assertTrue(s.endpoint.startswith("https://"))
            ca = os.path.join(s.data_dir, "tls", "ca.pem")
            import boto3
            c = boto3.client("ssm", endpoint_url=s.endpoint, region_name="us-east-1",
                             aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key,
                             verify=ca)
            c.put_parameter(Name="/tls", Value="secure", Type="String")
            self.assertEqual(c.get_parameter(Name="/tls")["Parameter"]["Value"], "secure")
            env = s.env()
            env["AWS_CA_BUNDLE"] = ca
            out = subprocess.run([os.environ.get("GC_AWS_CLI", "aws"), "--endpoint-url",
                                  s.endpoint, "ssm", "get-parameter",
                                  "--name", "/tls", "--output", "json"], env=env,
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["Parameter"]["Value"], "secure")
        finally:
            s.stop()

    def test_graceful_shutdown_finishes_in_flight_requests(self):
        s = harness.Server(store=harness.store_url()).start()
        ssm = s.client("ssm")
        errors, done = [], []

        def writer(i):
            try:
                for j in range(30):
                    ssm.put_parameter(Name=f"/g/{i}/{j}", Value="v", Type="String")
                    done.append((i, j))
            except Exception as e:  # connection refused after shutdown is expected
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(timeout=20), 0)
        for t in threads:
            t.join()
        s.stop()
        # Everything acknowledged before the shutdown is there after a restart.
        s2 = harness.Server(data_dir=s.data_dir, store=s.store).start()
        try:
            ssm2 = s2.client("ssm")
            for i, j in done:
                ssm2.get_parameter(Name=f"/g/{i}/{j}")
        finally:
            s2.stop()

    def test_kill_9_loses_no_acknowledged_put(self):
        s = harness.Server(store=harness.store_url()).start()
        if s.store:
            s.reset()
        ssm = s.client("ssm")
        acked = []
        lock = threading.Lock()

        def writer(i):
            for j in range(100):
                try:
                    ssm.put_parameter(Name=f"/k/{i}/{j}", Value=f"{i}-{j}", Type="String")
                except Exception:
                    return
                with lock:
                    acked.append((i, j))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 150:
            time.sleep(0.01)
        s.proc.send_signal(signal.SIGKILL)
        for t in threads:
            t.join()
        s.stop()
        self.assertGreaterEqual(len(acked), 150)
        s2 = harness.Server(data_dir=s.data_dir, store=s.store).start()
        try:
            ssm2 = s2.client("ssm")
            names = {f"/k/{i}/{j}" for i, j in acked}
            found = set()
            for page in ssm2.get_paginator("get_parameters_by_path").paginate(
                    Path="/k", Recursive=True):
                for p in page["Parameters"]:
                    found.add(p["Name"])
                    i, j = p["Name"].split("/")[2:]
                    self.assertEqual(p["Value"], f"{i}-{j}")
            self.assertEqual(names - found, set(), "acknowledged puts lost after kill -9")
        finally:
            s2.stop()


if __name__ == "__main__":
    harness.main()
