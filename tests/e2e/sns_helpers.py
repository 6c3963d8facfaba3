"""Real peers for SNS end-to-end tests: an HTTP(S) subscriber endpoint that records what it is
sent (and can be down or failing), an SMTP server on loopback (tests/tools/smtp_sink.py with
Debian's aiosmtpd), and an independent SNS signature verifier (Python's cryptography)."""
import base64
import datetime
import email
import email.policy
import glob
import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tls_files(folder, name):
    """A CA and a server certificate it signed for 127.0.0.1, written to FOLDER as
    NAME-ca.pem, NAME-cert.pem and NAME-key.pem; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def certificate(subject, issuer, public_key, signing_key, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(validity[0]).not_valid_after(validity[1])
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
                       ca_name, key.public_key(), ca_key, False)
    paths = tuple(os.path.join(folder, f"{name}-{part}.pem") for part in ("ca", "cert", "key"))
    for path, data in zip(paths, (ca.public_bytes(serialization.Encoding.PEM),
                                  cert.public_bytes(serialization.Encoding.PEM),
                                  key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))):
        with open(path, "wb") as f:
            f.write(data)
    return paths


class HttpEndpoint:
    """A subscriber: records every POST (headers, body). status is what it answers. With
    tls=(cert, key) it serves HTTPS with that certificate."""

    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls
        self.accepts = 0  # connections accepted (with TLS: handshakes tried, failed ones too)
        self.requests = []
        self.status = 200
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.down = False

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                if outer.down:  # stopped: kept-alive connections get no answer either
                    self.close_connection = True
                    return
                with outer.lock:
                    status = outer.status
                    if status == 200:
                        outer.requests.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def get_request(self):  # with TLS, accept() includes the handshake, which may fail
                try:
                    return super().get_request()
                finally:
                    with outer.lock:
                        outer.accepts += 1

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.down = True
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def messages(self, kind=None):
        with self.lock:
            out = [json.loads(b) if b.startswith("{") else b for _, b in self.requests]
        if kind:
            out = [m for m in out if isinstance(m, dict) and m.get("Type") == kind]
        return out

    def wait_for(self, count, kind=None, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.messages(kind)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} {kind or ''} messages, got {len(self.messages(kind))}")


class SmtpServer:
    """Debian's aiosmtpd on loopback, writing each mail to a folder."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gc-smtp-")
        python = "/usr/bin/python3"
        self.proc = subprocess.Popen(
            [python, os.path.join(REPO, "tests", "tools", "smtp_sink.py"), "--port",
             str(self.port), "--dir", self.dir], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("SMTP sink did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def mails(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "msg-*.json"))):
            with open(path) as f:
                stored = json.load(f)
            out.append(email.message_from_string(stored["data"], policy=email.policy.default))
        return out

    def wait_for(self, count, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.mails()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} mails, got {len(self.mails())}")


def string_to_sign(msg):
    """AWS's documented canonical form, rebuilt here independently of groundcrewd."""
    if msg["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    out = ""
    for k in keys:
        if k in msg:
            out += f"{k}\n{msg[k]}\n"
    return out.encode()


def verify_signature(msg):
    """True when msg's Signature verifies with the certificate at its SigningCertURL."""
    pem = urllib.request.urlopen(msg["SigningCertURL"], timeout=10).read()
    cert = x509.load_pem_x509_certificate(pem)
    algo = hashes.SHA1() if msg["SignatureVersion"] == "1" else hashes.SHA256()
    try:
        cert.public_key().verify(base64.b64decode(msg["Signature"]), string_to_sign(msg),
                                 padding.PKCS1v15(), algo)
        return True
    except Exception:
        return False
