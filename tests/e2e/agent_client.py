"""A small test client that speaks to groundcrewd as amazon-ssm-agent does as a managed node
(docs/AGENT_PROTOCOL.md sections 0, 1 and 3.1), written independently of the server so that it
checks the server's side of the protocol:

- a 2048-bit RSA key; the public key as base64 DER SubjectPublicKeyInfo (392 characters);
- RegisterManagedInstance without any signature (the agent uses anonymous credentials);
- RequestManagedInstanceRoleToken and UpdateManagedInstancePublicKey signed as the agent's
  rsaauth signer does: SigV4 canonicalisation of every header but Authorization and User-Agent,
  the managed node id as access key id, a base64 RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32)
  signature of the string to sign, X-Amz-Content-Sha256 added after signing;
- the agent-only UpdateInstanceInformation (botocore lacks it) signed with botocore's SigV4Auth
  and the temporary credentials, X-Amz-Security-Token included.

Runs under the machine's python3 and Debian's (python3-cryptography 38, botocore 1.29).
"""
import base64
import datetime
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JSON_11 = "application/x-amz-json-1.1"
_KEYS = []


def new_key(fresh=False):
    """A 2048-bit RSA key. Tests share a few (key generation is slow), unless `fresh`."""
    if fresh or len(_KEYS) < 3:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if fresh:
            return key
        _KEYS.append(key)
        return key
    _KEYS.append(_KEYS.pop(0))
    return _KEYS[-1]


def public_key_b64(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


class AwsError(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _send(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else {}
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        doc = json.loads(text) if text else {}
        code = doc.get("__type", "").split("#")[-1]
        raise AwsError(e.code, code, doc.get("message", doc.get("Message", ""))) from None


class NodeAgent:
    """One managed node: its key, fingerprint, instance id and temporary credentials."""

    def __init__(self, endpoint, region="us-east-1", key=None):
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.key = key or new_key()
        self.fingerprint = str(uuid.uuid4())
        self.instance_id = None
        self.credentials = None  # the RequestManagedInstanceRoleToken answer

    @property
    def host(self):
        return urllib.parse.urlsplit(self.endpoint).netloc

    # -- unsigned ------------------------------------------------------------------------------

    def register(self, activation_code, activation_id, public_key=None):
        body = json.dumps({"ActivationCode": activation_code, "ActivationId": activation_id,
                           "PublicKey": public_key or public_key_b64(self.key),
                           "PublicKeyType": "Rsa", "Fingerprint": self.fingerprint}).encode()
        out = _send(self.endpoint + "/", body, {
            "Content-Type": JSON_11, "X-Amz-Target": "AmazonSSM.RegisterManagedInstance"})
        self.instance_id = out["InstanceId"]
        return self.instance_id

    # -- RSA-signed (agent/ssm/rsaauth) --------------------------------------------------------

    def rsa_call(self, operation, payload, key=None, node_id=None, when=None):
        key = key or self.key
        node_id = node_id or self.instance_id
        when = when or datetime.datetime.now(datetime.timezone.utc)
        amz_date = when.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{amz_date[:8]}/{self.region}/ssm/aws4_request"
        body = json.dumps(payload).encode()
        headers = {"Content-Type": JSON_11, "X-Amz-Target": "AmazonSSM." + operation,
                   "X-Amz-Date": amz_date, "Host": self.host, "Content-Length": str(len(body))}
        # SigV4 step 1 over every header present (the agent skips only Authorization and
        # User-Agent), names lowercased and sorted.
        names = sorted(headers, key=str.lower)
        canonical_headers = "".join(f"{n.lower()}:{' '.join(headers[n].split())}\n" for n in names)
        signed_headers = ";".join(n.lower() for n in names)
        body_hash = hashlib.sha256(body).hexdigest()
        canonical = "\n".join(["POST", "/", "", canonical_headers, signed_headers, body_hash])
        string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                    hashlib.sha256(canonical.encode()).hexdigest()])
        signature = key.sign(string_to_sign.encode(),
                             padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                             hashes.SHA256())
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={node_id}/{scope}, "
                                    f"SignedHeaders={signed_headers}, "
                                    f"Signature={base64.b64encode(signature).decode()}")
        headers["X-Amz-Content-Sha256"] = body_hash  # added after signing, as the agent does
        headers["User-Agent"] = "groundcrew-e2e-agent-client"
        return _send(self.endpoint + "/", body, headers)

    def request_token(self, fingerprint=None, key=None):
        self.credentials = self.rsa_call("RequestManagedInstanceRoleToken",
                                         {"Fingerprint": fingerprint or self.fingerprint}, key=key)
        return self.credentials

    def update_public_key(self, new_key_pair):
        out = self.rsa_call("UpdateManagedInstancePublicKey",
                            {"NewPublicKey": public_key_b64(new_key_pair),
                             "NewPublicKeyType": "Rsa"})
        self.key = new_key_pair
        return out

    # -- SigV4 with the node's temporary credentials -------------------------------------------

    def botocore_credentials(self, token=True):
        c = self.credentials
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"],
                           c["SessionToken"] if token is True else (token or None))

    def signed_call(self, operation, payload, token=True, service="ssm",
                    target_prefix="AmazonSSM"):
        """SigV4-signed JSON 1.1 call with the temporary credentials; `token` False leaves out
        X-Amz-Security-Token, a string sends that token instead."""
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=json.dumps(payload).encode(),
                         headers={"Content-Type": JSON_11,
                                  "X-Amz-Target": f"{target_prefix}.{operation}"})
        SigV4Auth(self.botocore_credentials(token), service, self.region).add_auth(req)
        prepared = req.prepare()
        return _send(prepared.url, prepared.body, dict(prepared.headers.items()))

    def update_instance_information(self, **fields):
        payload = {"AgentName": "amazon-ssm-agent", "AgentVersion": "3.3.1142.0",
                   "PlatformType": "Linux", "InstanceId": self.instance_id}
        payload.update(fields)
        return self.signed_call("UpdateInstanceInformation", payload)

    def boto3_client(self, server, service="ssm"):
        """A boto3 client with this node's temporary credentials."""
        import boto3
        import botocore.config
        c = self.credentials
        return boto3.client(service, endpoint_url=server.endpoint, region_name=self.region,
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"],
                            config=botocore.config.Config(retries={"max_attempts": 0}))
