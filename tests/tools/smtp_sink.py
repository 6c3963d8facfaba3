#!/usr/bin/python3
"""smtp_sink.py: a real SMTP server on loopback that stores every message it receives, for tests.

Usage:
  /usr/bin/python3 smtp_sink.py --port P --dir D [--host 127.0.0.1]
                                [--tls-cert CERT --tls-key KEY]  # offer STARTTLS (and require it)
                                [--auth USER:PASSWORD]           # require AUTH (after STARTTLS)
                                [--fail-rcpt ADDRESS]            # answer 550 to this recipient

Each accepted message becomes one file D/msg-NNNNNN.json (written to a temp name, then renamed,
so a reader never sees half a file) holding:
  mail_from, rcpt_tos         the SMTP envelope (MAIL FROM, RCPT TO)
  data                        the message as received (headers and body, CRLF line ends)
  from, to, subject, date, message_id, content_type   decoded header values ("" when absent)
  body                        the decoded text body (line ends as \n)
  tls, auth_user              whether STARTTLS was used, and the authenticated login (or null)
Prints "READY <port>" on stdout once it accepts connections; runs until SIGTERM or SIGINT.
Needs aiosmtpd (Debian: python3-aiosmtpd, for /usr/bin/python3); exits 77 when it is missing.
"""
import argparse
import email
import email.header
import email.policy
import itertools
import json
import os
import signal
import ssl
import sys
import threading
import warnings

# aiosmtpd 1.4 warns about its own deprecated Session.login_data on every AUTH.
warnings.filterwarnings("ignore", message=".*login_data.*")

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError as e:  # the caller skips its email tests
    print(f"*** smtp_sink.py: aiosmtpd is not available: {e} ***", file=sys.stderr, flush=True)
    sys.exit(77)


def decoded_header(msg, name):
    value = msg.get(name)
    if value is None:
        return ""
    return str(email.header.make_header(email.header.decode_header(str(value))))


class Sink:
    def __init__(self, directory, fail_rcpt):
        self.directory = directory
        self.fail_rcpt = fail_rcpt
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.fail_rcpt and address.lower() == self.fail_rcpt.lower():
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        body = ""
        if not msg.is_multipart():
            payload = msg.get_payload(decode=True) or b""
            charset = msg.get_content_charset() or "utf-8"
            body = payload.decode(charset, "replace").replace("\r\n", "\n")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", "replace"),
            "from": decoded_header(msg, "From"),
            "to": decoded_header(msg, "To"),
            "subject": decoded_header(msg, "Subject"),
            "date": decoded_header(msg, "Date"),
            "message_id": decoded_header(msg, "Message-ID"),
            "content_type": decoded_header(msg, "Content-Type"),
            "body": body,
            "tls": session.ssl is not None,
            "auth_user": (session.auth_data.login.decode("utf-8", "replace")
                          if getattr(session, "auth_data", None) is not None
                          and hasattr(session.auth_data, "login") else None),
        }
        with self.lock:
            n = next(self.counter)
        final = os.path.join(self.directory, f"msg-{n:06d}.json")
        tmp = final + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.rename(tmp, final)
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--auth", help="USER:PASSWORD")
    ap.add_argument("--fail-rcpt")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    kwargs = {}
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (getattr(auth_data, "login", None) == user.encode()
                  and getattr(auth_data, "password", None) == password.encode())
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=bool(args.tls_cert))

    controller = Controller(Sink(args.dir, args.fail_rcpt), hostname=args.host, port=args.port,
                            **kwargs)
    controller.start()
    print(f"READY {args.port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    parent = os.getppid()
    while not done.wait(0.5):
        if os.getppid() != parent:  # whoever started us is gone
            break
    controller.stop()


if __name__ == "__main__":
    main()
