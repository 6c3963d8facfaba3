"""SQS end to end: every operation through boto3 (JSON protocol with current botocore, the query
protocol with Debian's botocore 1.29) and the real AWS CLI, with the characteristic errors of each,
against a real groundcrewd. Every SendMessage(Batch) and ReceiveMessage response has its MD5s
checked against AWS's algorithm (botocore itself does not check them)."""
import base64
import hashlib
import json
import os
import shutil
import signal
import struct
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

import harness

ACCOUNT = harness.ACCOUNT


def error_code(ctx):
    return ctx.exception.response["Error"]["Code"]


def error_message(ctx):
    return ctx.exception.response["Error"]["Message"]


# --- AWS's MD5 of message attributes ------------------------------------------------------------

def md5_of_attributes(attrs):
    """MD5OfMessageAttributes / MD5OfMessageSystemAttributes as AWS computes them."""
    digest = hashlib.md5()

    def length_prefixed(data):
        digest.update(struct.pack("!I", len(data)))
        digest.update(data)

    for name in sorted(attrs, key=lambda n: n.encode("utf-16-be")):
        value = attrs[name]
        length_prefixed(name.encode())
        length_prefixed(value["DataType"].encode())
        if value.get("StringValue") is not None:
            digest.update(b"\x01")
            length_prefixed(value["StringValue"].encode())
        elif value.get("BinaryValue") is not None:
            digest.update(b"\x02")
            b = value["BinaryValue"]
            length_prefixed(b if isinstance(b, bytes) else b.encode())
    return digest.hexdigest()


def md5_of_body(body):
    return hashlib.md5(body.encode()).hexdigest()


class Md5Mismatch(AssertionError):
    pass


def install_md5_checks(client):
    """Makes `client` fail any call whose MD5s do not match what was sent / received, as the Java
    and JavaScript SDKs do."""

    def stash(params=None, context=None, **kwargs):
        if context is not None:
            context["gc_params"] = params or {}

    def check_send(result, sent):
        if result.get("MD5OfMessageBody") != md5_of_body(sent["MessageBody"]):
            raise Md5Mismatch("MD5OfMessageBody")
        attrs = sent.get("MessageAttributes")
        if attrs and result.get("MD5OfMessageAttributes") != md5_of_attributes(attrs):
            raise Md5Mismatch("MD5OfMessageAttributes")
        system = sent.get("MessageSystemAttributes")
        if system and result.get("MD5OfMessageSystemAttributes") != md5_of_attributes(system):
            raise Md5Mismatch("MD5OfMessageSystemAttributes")

    def check(http_response=None, parsed=None, model=None, context=None, **kwargs):
        if http_response is None or http_response.status_code != 200 or parsed is None:
            return
        params = (context or {}).get("gc_params", {})
        if model.name == "SendMessage":
            check_send(parsed, params)
        elif model.name == "SendMessageBatch":
            entries = {e["Id"]: e for e in params.get("Entries", [])}
            for ok in parsed.get("Successful", []):
                check_send(ok, entries[ok["Id"]])
        elif model.name == "ReceiveMessage":
            for m in parsed.get("Messages", []):
                if m["MD5OfBody"] != md5_of_body(m["Body"]):
                    raise Md5Mismatch("MD5OfBody")
                attrs = m.get("MessageAttributes")
                if attrs and m.get("MD5OfMessageAttributes") != md5_of_attributes(attrs):
                    raise Md5Mismatch("MD5OfMessageAttributes (receive)")

    client.meta.events.register("before-parameter-build.sqs.*", stash)
    client.meta.events.register("after-call.sqs.*", check)
    return client


def sqs_client(server, region="us-east-1", pool=10):
    client = boto3.client(
        "sqs", endpoint_url=server.endpoint, region_name=region,
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=botocore.config.Config(retries={"max_attempts": 0}, max_pool_connections=pool,
                                      read_timeout=60))
    return install_md5_checks(client)


def signed_request(server, method, url, body=b"", headers=None, region="us-east-1"):
    """Sends a SigV4-signed request by hand; returns (status, headers, body text)."""
    headers = dict(headers or {})
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
    creds = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.SigV4Auth(creds, "sqs", region).add_auth(req)
    prepared = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                      headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def query_post(server, url, params):
    body = urllib.parse.urlencode(params).encode()
    return signed_request(server, "POST", url, body,
                          {"Content-Type": "application/x-www-form-urlencoded"})


def json_post(server, url, operation, doc):
    return signed_request(server, "POST", url, json.dumps(doc).encode(),
                          {"Content-Type": "application/x-amz-json-1.0",
                           "X-Amz-Target": "AmazonSQS." + operation})


def supports(client, operation):
    return operation in client.meta.service_model.operation_names


class SqsTest(harness.ServerTestCase):
    def setUp(self):
        super().setUp()
        self.sqs = sqs_client(self.server)

    def create(self, name, **attrs):
        kwargs = {"QueueName": name}
        if attrs:
            kwargs["Attributes"] = {k: str(v) for k, v in attrs.items()}
        return self.sqs.create_queue(**kwargs)["QueueUrl"]

    def arn(self, name, region="us-east-1"):
        return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"

    def attributes(self, url, *names):
        return self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=list(names) or ["All"]).get("Attributes", {})

    def receive(self, url, **kwargs):
        kwargs.setdefault("MaxNumberOfMessages", 10)
        return self.sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])

    # --- queues ---------------------------------------------------------------------------------

    def test_create_get_list_delete_queue(self):
        url = self.create("orders")
        self.assertEqual(url, f"{self.server.endpoint}/{ACCOUNT}/orders")
        self.assertEqual(self.sqs.get_queue_url(QueueName="orders")["QueueUrl"], url)
        self.assertEqual(self.create("orders"), url)  # idempotent without attributes
        for i in range(5):
            self.create(f"page-{i}")
        self.assertEqual(self.sqs.list_queues(QueueNamePrefix="page-")["QueueUrls"],
                         [f"{self.server.endpoint}/{ACCOUNT}/page-{i}" for i in range(5)])
        first = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=2)
        self.assertEqual(len(first["QueueUrls"]), 2)
        rest = self.sqs.list_queues(QueueNamePrefix="page-", MaxResults=10,
                                    NextToken=first["NextToken"])
        self.assertEqual(len(rest["QueueUrls"]), 3)
        self.assertNotIn("NextToken", rest)
        pages = self.sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 4})
        self.assertEqual(sum(len(p.get("QueueUrls", [])) for p in pages), 6)
        self.assertNotIn("QueueUrls", self.sqs.list_queues(QueueNamePrefix="none-"))
        self.sqs.delete_queue(QueueUrl=url)
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist) as c:
            self.sqs.get_queue_url(QueueName="orders")
        self.assertEqual(error_code(c), "AWS.SimpleQueueService.NonExistentQueue")
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.send_message(QueueUrl=url, MessageBody="x")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.list_queues(MaxResults=1001)
        self.assertEqual(error_code(c), "InvalidParameterValue")

    def test_create_queue_rules(self):
        self.create("conf", DelaySeconds=1, ReceiveMessageWaitTimeSeconds=1)
        self.create("conf", DelaySeconds=1)  # same values: fine
        with self.assertRaises(self.sqs.exceptions.QueueNameExists) as c:
            self.create("conf", DelaySeconds=2)
        self.assertEqual(error_code(c), "QueueAlreadyExists")
        self.assertEqual(error_message(c), "A queue already exists with the same name and a "
                                           "different value for attribute DelaySeconds")
        for bad in ["with space", "x" * 81, "slash/name", "std.fifo"]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=bad) as c:
                self.create(bad)
            self.assertEqual(error_code(c), "InvalidParameterValue", bad)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.create("nofifosuffix", FifoQueue="true")
        self.assertEqual(error_code(c), "InvalidParameterValue")
        for attrs, code, message in [
                ({"Bogus": "1"}, "InvalidAttributeName", "Unknown Attribute Bogus."),
                ({"FifoQueue": "false"}, "InvalidAttributeName", "Unknown Attribute FifoQueue."),
                ({"ContentBasedDeduplication": "true"}, "InvalidAttributeName",
                 "Unknown Attribute ContentBasedDeduplication."),
                ({"DeduplicationScope": "queue"}, "InvalidAttributeName",
                 "You can specify the DeduplicationScope only when FifoQueue is set to true."),
                ({"VisibilityTimeout": "43201"}, "InvalidAttributeValue",
                 "Invalid value for the parameter VisibilityTimeout."),
                ({"MaximumMessageSize": "1023"}, "InvalidAttributeValue",
                 "Invalid value for the parameter MaximumMessageSize."),
                ({"RedrivePolicy": '{"maxReceiveCount": 1}'}, "InvalidParameterValue", None)]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=attrs) as c:
                self.sqs.create_queue(QueueName="badattrs", Attributes=attrs)
            self.assertEqual(error_code(c), code, attrs)
            if message:
                self.assertEqual(error_message(c), message)
        self.assertNotIn("QueueUrls", self.sqs.list_queues(QueueNamePrefix="badattrs"))

    def test_queue_attributes(self):
        url = self.create("attrs")
        a = self.attributes(url)
        self.assertEqual(a, {
            "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "CreatedTimestamp": a["CreatedTimestamp"], "DelaySeconds": "0",
            "LastModifiedTimestamp": a["LastModifiedTimestamp"], "MaximumMessageSize": "1048576",
            "MessageRetentionPeriod": "345600", "QueueArn": self.arn("attrs"),
            "ReceiveMessageWaitTimeSeconds": "0", "SqsManagedSseEnabled": "true",
            "VisibilityTimeout": "30"})
        self.assertLess(abs(int(a["CreatedTimestamp"]) - time.time()), 60)
        self.assertEqual(self.attributes(url, "QueueArn"), {"QueueArn": self.arn("attrs")})
        self.assertNotIn("Attributes", self.sqs.get_queue_attributes(QueueUrl=url))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": "69", "MaximumMessageSize": "2048", "DelaySeconds": "420",
            "KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"})
        a = self.attributes(url)
        self.assertEqual((a["VisibilityTimeout"], a["MaximumMessageSize"], a["DelaySeconds"]),
                         ("69", "2048", "420"))
        self.assertEqual((a["KmsMasterKeyId"], a["KmsDataKeyReusePeriodSeconds"],
                          a["SqsManagedSseEnabled"]), ("testKeyId", "6000", "false"))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300"})
        a = self.attributes(url)
        self.assertNotIn("KmsMasterKeyId", a)
        self.assertNotIn("KmsDataKeyReusePeriodSeconds", a)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
                "KmsMasterKeyId": "k", "SqsManagedSseEnabled": "true"})
        self.assertEqual(error_code(c), "InvalidAttributeName")
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage",
             "Resource": self.arn("attrs")}]})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        self.assertEqual(json.loads(self.attributes(url, "Policy")["Policy"]),
                         json.loads(policy))
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        self.assertNotIn("Policy", self.attributes(url))
        for attrs, code in [({"FifoQueue": "true"}, "InvalidAttributeName"),
                            ({"MessageRetentionPeriod": "59"}, "InvalidAttributeValue"),
                            ({"QueueArn": "x"}, "InvalidAttributeName")]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=attrs) as c:
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
            self.assertEqual(error_code(c), code, attrs)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
        self.assertEqual((error_code(c), error_message(c)),
                         ("InvalidAttributeName", "Unknown Attribute Bogus."))
        fifo = self.create("attrs.fifo", FifoQueue="true")
        a = self.attributes(fifo)
        self.assertEqual((a["FifoQueue"], a["ContentBasedDeduplication"], a["DeduplicationScope"],
                          a["FifoThroughputLimit"]), ("true", "false", "queue", "perQueue"))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "false"})
        self.assertEqual(error_code(c), "InvalidAttributeValue")

    def test_region_scoping(self):
        url = self.create("regional")
        west = sqs_client(self.server, region="us-west-2")
        with self.assertRaises(west.exceptions.QueueDoesNotExist):
            west.get_queue_url(QueueName="regional")
        with self.assertRaises(west.exceptions.QueueDoesNotExist):
            west.send_message(QueueUrl=url, MessageBody="x")
        west_url = west.create_queue(QueueName="regional")["QueueUrl"]
        self.assertEqual(west.get_queue_attributes(QueueUrl=west_url, AttributeNames=["QueueArn"])
                         ["Attributes"]["QueueArn"], self.arn("regional", "us-west-2"))
        self.assertEqual(self.sqs.list_queues()["QueueUrls"], [url])

    # --- messages -------------------------------------------------------------------------------

    def test_send_receive_delete_with_attributes(self):
        url = self.create("msgs")
        attrs = {"Hello": {"DataType": "String", "StringValue": "There"},
                 "Help.Me": {"DataType": "String", "StringValue": "Me"},
                 "General": {"DataType": "Number", "StringValue": "42.5"},
                 "Bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
                 "Custom": {"DataType": "String.custom", "StringValue": "ünïcödé"}}
        trace = {"AWSTraceHeader": {"DataType": "String", "StringValue":
                 "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="body ✓", MessageAttributes=attrs,
                                     MessageSystemAttributes=trace)
        self.assertEqual(sent["MD5OfMessageSystemAttributes"], "5ae4d5d7636402d80f4eb6d213245a88")
        self.assertNotIn("SequenceNumber", sent)
        got = self.receive(url, AttributeNames=["All"], MessageAttributeNames=["All"],
                           VisibilityTimeout=0)
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual((m["MessageId"], m["Body"]), (sent["MessageId"], "body ✓"))
        self.assertEqual(m["MessageAttributes"], attrs)
        self.assertEqual(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"])
        self.assertEqual(set(m["Attributes"]), {
            "SenderId", "SentTimestamp", "ApproximateReceiveCount",
            "ApproximateFirstReceiveTimestamp", "AWSTraceHeader"})
        self.assertEqual(m["Attributes"]["SenderId"], ACCOUNT)
        self.assertLess(abs(int(m["Attributes"]["SentTimestamp"]) / 1000 - time.time()), 60)
        # MessageAttributeNames: names, prefixes, nothing.
        m = self.receive(url, MessageAttributeNames=["Hel.*", "Nope"], VisibilityTimeout=0)[0]
        self.assertEqual(set(m["MessageAttributes"]), {"Hello", "Help.Me"})
        m = self.receive(url, MessageAttributeNames=["General"], AttributeNames=["SenderId"],
                         VisibilityTimeout=0)[0]
        self.assertEqual(set(m["MessageAttributes"]), {"General"})
        self.assertEqual(m["Attributes"], {"SenderId": ACCOUNT})
        m = self.receive(url)[0]
        self.assertNotIn("MessageAttributes", m)
        self.assertNotIn("Attributes", m)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])  # again: fine
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessages",
                                         "ApproximateNumberOfMessagesNotVisible"),
                         {"ApproximateNumberOfMessages": "0",
                          "ApproximateNumberOfMessagesNotVisible": "0"})
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
        self.assertEqual((error_code(c), error_message(c)),
                         ("ReceiptHandleIsInvalid",
                          'The input receipt handle "garbage" is not a valid receipt handle.'))

    def test_send_errors(self):
        url = self.create("errs")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="")
        self.assertEqual((error_code(c), error_message(c)),
                         ("MissingParameter", "The request must contain the parameter "
                                              "MessageBody."))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="bad \x01 char")
        self.assertEqual(error_code(c), "InvalidMessageContents")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
                "ErrorDetails": {"DataType": "String", "StringValue": ""}})
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue",
            "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type "
            "'String'."))
        for bad in [{"AWS.x": {"DataType": "String", "StringValue": "v"}},
                    {"a": {"DataType": "Bogus", "StringValue": "v"}},
                    {"a": {"DataType": "Number", "StringValue": "nan-ish"}}]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=bad) as c:
                self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=bad)
            self.assertEqual(error_code(c), "InvalidParameterValue", bad)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901)
        self.assertEqual(error_code(c), "InvalidParameterValue")
        # MaximumMessageSize counts the body and the attributes.
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
        self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1017, MessageAttributes={
                "k": {"DataType": "String", "StringValue": "x"}})
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue",
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 "
            "bytes."))
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "1"})

    def test_batches(self):
        url = self.create("batch")
        entries = [{"Id": f"m{i}", "MessageBody": f"body-{i}",
                    "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}}}
                   for i in range(9)] + [{"Id": "bad", "MessageBody": "\x01"}]
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(s["Id"] for s in r["Successful"]), [f"m{i}" for i in range(9)])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("bad", "InvalidMessageContents", True)])
        for bad, code in [([], "AWS.SimpleQueueService.EmptyBatchRequest"),
                          ([{"Id": str(i), "MessageBody": "x"} for i in range(11)],
                           "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
                          ([{"Id": "a:b", "MessageBody": "x"}],
                           "AWS.SimpleQueueService.InvalidBatchEntryId"),
                          ([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}],
                           "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                          ([{"Id": "a", "MessageBody": "x" * 600000},
                            {"Id": "b", "MessageBody": "y" * 600000}],
                           "AWS.SimpleQueueService.BatchRequestTooLong")]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=code) as c:
                self.sqs.send_message_batch(QueueUrl=url, Entries=bad)
            self.assertEqual(error_code(c), code)
        got = []
        while len(got) < 9:
            batch = self.receive(url, VisibilityTimeout=30, MessageAttributeNames=["All"])
            self.assertTrue(batch)
            got += batch
        self.assertEqual(sorted(m["Body"] for m in got), [f"body-{i}" for i in range(9)])
        changes = [{"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(got[:3])]
        changes.append({"Id": "cbad", "ReceiptHandle": "garbage", "VisibilityTimeout": 0})
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=changes)
        self.assertEqual(len(r["Successful"]), 3)
        self.assertEqual(r["Failed"][0]["Code"], "ReceiptHandleIsInvalid")
        again = self.receive(url)
        self.assertEqual(len(again), 3)
        deletes = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
                   for i, m in enumerate(got[3:] + again)]
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=deletes + [
            {"Id": "dbad", "ReceiptHandle": "garbage"}])
        self.assertEqual(len(r["Successful"]), 9)
        self.assertEqual([(f["Id"], f["Code"]) for f in r["Failed"]],
                         [("dbad", "ReceiptHandleIsInvalid")])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[])
        self.assertEqual(error_code(c), "AWS.SimpleQueueService.EmptyBatchRequest")
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessages",
                                         "ApproximateNumberOfMessagesNotVisible"),
                         {"ApproximateNumberOfMessages": "0",
                          "ApproximateNumberOfMessagesNotVisible": "0"})

    def test_visibility_timeout(self):
        url = self.create("vis", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        first = self.receive(url, AttributeNames=["All"])
        self.assertEqual(first[0]["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessagesNotVisible"),
                         {"ApproximateNumberOfMessagesNotVisible": "1"})
        time.sleep(1.2)
        second = self.receive(url, AttributeNames=["All"])
        self.assertEqual(second[0]["Attributes"]["ApproximateReceiveCount"], "2")
        # ApproximateFirstReceiveTimestamp stays that of the first receive.
        self.assertEqual(second[0]["Attributes"]["ApproximateFirstReceiveTimestamp"],
                         first[0]["Attributes"]["ApproximateFirstReceiveTimestamp"])
        self.assertNotEqual(first[0]["ReceiptHandle"], second[0]["ReceiptHandle"])
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"],
                                           VisibilityTimeout=0)
        third = self.receive(url, VisibilityTimeout=60)
        self.assertEqual(len(third), 1)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.change_message_visibility(QueueUrl=url,
                                               ReceiptHandle=third[0]["ReceiptHandle"],
                                               VisibilityTimeout=5)
        self.assertEqual(error_code(c), "InvalidParameterValue")
        self.assertIn("Message does not exist or is not available for visibility timeout "
                      "change.", error_message(c))
        for kwargs, message in [
                ({"MaxNumberOfMessages": 11}, "Value 11 for parameter MaxNumberOfMessages is "
                 "invalid. Reason: Must be between 1 and 10, if provided."),
                ({"WaitTimeSeconds": 21}, "Value 21 for parameter WaitTimeSeconds is invalid. "
                 "Reason: Must be >= 0 and <= 20, if provided.")]:
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                self.sqs.receive_message(QueueUrl=url, **kwargs)
            self.assertEqual((error_code(c), error_message(c)), ("InvalidParameterValue", message))

    def test_delay(self):
        url = self.create("delayed", DelaySeconds=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="queue delay")
        self.sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
        self.assertEqual([m["Body"] for m in self.receive(url)], ["no delay"])
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessagesDelayed"),
                         {"ApproximateNumberOfMessagesDelayed": "1"})
        start = time.time()
        got = self.receive(url, WaitTimeSeconds=5)
        self.assertEqual([m["Body"] for m in got], ["queue delay"])
        self.assertLess(time.time() - start, 2.5)  # woken by its visibility, not the deadline

    # --- long polling ---------------------------------------------------------------------------

    def test_long_poll_returns_early_when_a_message_arrives(self):
        url = self.create("lp")
        sender = sqs_client(self.server)
        timer = threading.Timer(0.5, lambda: sender.send_message(QueueUrl=url, MessageBody="hi"))
        start = time.time()
        timer.start()
        got = self.receive(url, WaitTimeSeconds=10)
        elapsed = time.time() - start
        timer.join()
        self.assertEqual([m["Body"] for m in got], ["hi"])
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 3)

    def test_long_poll_waits_and_holds_no_thread(self):
        url = self.create("lp-wait")
        start = time.time()
        self.assertEqual(self.receive(url, WaitTimeSeconds=1), [])
        self.assertGreater(time.time() - start, 0.9)
        self.assertLess(time.time() - start, 3)
        # The queue's ReceiveMessageWaitTimeSeconds is the default wait.
        self.sqs.set_queue_attributes(QueueUrl=url,
                                      Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
        start = time.time()
        self.assertEqual(self.receive(url), [])
        self.assertGreater(time.time() - start, 0.9)
        # More parked polls than the server has threads; other requests are still served.
        many = sqs_client(self.server, pool=40)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            many.receive_message(QueueUrl=url, WaitTimeSeconds=3).get("Messages", [])))
            for _ in range(24)]
        start = time.time()
        for t in threads:
            t.start()
        time.sleep(0.5)
        probe = time.time()
        self.sqs.get_queue_url(QueueName="lp-wait")
        self.assertLess(time.time() - probe, 1.0)
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
        for t in threads:
            t.join()
        self.assertEqual(len(results), 24)
        self.assertEqual(sum(len(r) for r in results), 5)
        self.assertLess(time.time() - start, 6)

    # --- FIFO -----------------------------------------------------------------------------------

    def test_fifo_order_groups_and_dedup(self):
        url = self.create("order.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        seqs = []
        for body, group in [("g1-m1", "g1"), ("g2-m1", "g2"), ("g1-m2", "g1"), ("g1-m3", "g1")]:
            r = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
            seqs.append(int(r["SequenceNumber"]))
            self.assertEqual(len(r["SequenceNumber"]), 20)
        self.assertEqual(seqs, sorted(seqs))
        got = self.receive(url, MaxNumberOfMessages=2, VisibilityTimeout=30,
                           AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in got], ["g1-m1", "g1-m2"])
        self.assertEqual(got[0]["Attributes"]["MessageGroupId"], "g1")
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"],
                         hashlib.sha256(b"g1-m1").hexdigest())
        self.assertEqual(int(got[0]["Attributes"]["SequenceNumber"]), seqs[0])
        # Group g1 is blocked while its messages are in flight.
        self.assertEqual([m["Body"] for m in self.receive(url)], ["g2-m1"])
        self.assertEqual(self.receive(url), [])
        for m in got:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual([m["Body"] for m in self.receive(url)], ["g1-m3"])
        # Deduplication: content hash, and explicit ids; a duplicate is acknowledged, not queued.
        a = self.sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="d")
        b = self.sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="d")
        self.assertEqual(a["MessageId"], b["MessageId"])
        c = self.sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="d",
                                  MessageDeduplicationId="id-1")
        d = self.sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="e",
                                  MessageDeduplicationId="id-1")
        self.assertEqual(c["MessageId"], d["MessageId"])
        self.assertEqual([m["Body"] for m in self.receive(url)], ["same", "other"])

    def test_fifo_errors_and_attempt_id(self):
        url = self.create("strict.fifo", FifoQueue="true")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue", "The queue should either have ContentBasedDeduplication "
            "enabled or MessageDeduplicationId provided explicitly"))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
        self.assertEqual((error_code(c), error_message(c)), (
            "MissingParameter", "The request must contain the parameter MessageGroupId."))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                                  MessageDeduplicationId="d", DelaySeconds=2)
        self.assertEqual(error_code(c), "InvalidParameterValue")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="group 123",
                                  MessageDeduplicationId="d")
        self.assertEqual(error_code(c), "InvalidParameterValue")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": "a", "MessageBody": "x", "MessageGroupId": "g",
                 "MessageDeduplicationId": "1"},
                {"Id": "b", "MessageBody": "y", "MessageDeduplicationId": "2"}])
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue", "The request must contain the parameter MessageGroupId."))
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessages"),
                         {"ApproximateNumberOfMessages": "0"})
        self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                              MessageDeduplicationId="d")
        first = self.receive(url, ReceiveRequestAttemptId="try-1")
        retry = self.receive(url, ReceiveRequestAttemptId="try-1")
        self.assertEqual(len(first), 1)
        self.assertEqual([m["ReceiptHandle"] for m in retry], [first[0]["ReceiptHandle"]])
        self.assertEqual(self.receive(url, ReceiveRequestAttemptId="try-2"), [])
        std = self.create("standard")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.send_message(QueueUrl=std, MessageBody="x", MessageDeduplicationId="d")
        self.assertEqual(error_code(c), "InvalidParameterValue")

    # --- dead letters, move tasks, purge ----------------------------------------------------------

    def test_dead_letter_queue_and_move_task(self):
        dlq = self.create("dead")
        src = self.create("live", VisibilityTimeout=0, RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": self.arn("dead"), "maxReceiveCount": "1"}))
        self.assertEqual(json.loads(self.attributes(src, "RedrivePolicy")["RedrivePolicy"]),
                         {"deadLetterTargetArn": self.arn("dead"), "maxReceiveCount": 1})
        self.assertEqual(self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"],
                         [src])
        sent = self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        self.assertEqual(len(self.receive(src)), 1)
        self.assertEqual(self.receive(src), [])  # the second receive moves it
        moved = self.receive(dlq, AttributeNames=["All"], VisibilityTimeout=0)
        self.assertEqual([(m["MessageId"], m["Body"]) for m in moved],
                         [(sent["MessageId"], "poison")])
        self.assertEqual(moved[0]["Attributes"]["DeadLetterQueueSourceArn"], self.arn("live"))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": self.arn("missing"), "maxReceiveCount": 1})})
        self.assertEqual(error_code(c), "InvalidParameterValue")
        if not supports(self.sqs, "StartMessageMoveTask"):
            return  # Debian's botocore 1.29 predates move tasks
        task = self.sqs.start_message_move_task(SourceArn=self.arn("dead"))
        self.assertTrue(task["TaskHandle"])
        deadline = time.time() + 10
        while True:
            r = self.sqs.list_message_move_tasks(SourceArn=self.arn("dead"))["Results"]
            if r and r[0]["Status"] == "COMPLETED" or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual((r[0]["Status"], r[0]["ApproximateNumberOfMessagesMoved"],
                          r[0]["ApproximateNumberOfMessagesToMove"]), ("COMPLETED", 1, 1))
        self.assertNotIn("TaskHandle", r[0])
        back = self.receive(src, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in back], ["poison"])
        self.assertNotIn("DeadLetterQueueSourceArn", back[0]["Attributes"])
        for kwargs, code in [({"SourceArn": self.arn("live")}, "InvalidParameterValue"),
                             ({"SourceArn": self.arn("nowhere")}, "ResourceNotFoundException"),
                             ({"SourceArn": self.arn("dead"),
                               "DestinationArn": self.arn("nowhere")},
                              "ResourceNotFoundException")]:
            with self.assertRaises(botocore.exceptions.ClientError, msg=kwargs) as c:
                self.sqs.start_message_move_task(**kwargs)
            self.assertEqual(error_code(c), code, kwargs)
        # A rate-limited move to an explicit destination, cancelled while it runs.
        other = self.create("elsewhere")
        self.sqs.send_message_batch(QueueUrl=dlq, Entries=[
            {"Id": str(i), "MessageBody": f"d{i}"} for i in range(6)])
        handle = self.sqs.start_message_move_task(
            SourceArn=self.arn("dead"), DestinationArn=self.arn("elsewhere"),
            MaxNumberOfMessagesPerSecond=2)["TaskHandle"]
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.start_message_move_task(SourceArn=self.arn("dead"))
        self.assertEqual(error_code(c), "InvalidParameterValue")
        time.sleep(1.2)
        running = self.sqs.list_message_move_tasks(SourceArn=self.arn("dead"),
                                                   MaxResults=10)["Results"]
        self.assertEqual(len(running), 2)
        self.assertEqual((running[0]["Status"], running[0]["TaskHandle"],
                          running[0]["MaxNumberOfMessagesPerSecond"],
                          running[0]["DestinationArn"]),
                         ("RUNNING", handle, 2, self.arn("elsewhere")))
        cancelled = self.sqs.cancel_message_move_task(TaskHandle=handle)
        self.assertGreaterEqual(cancelled["ApproximateNumberOfMessagesMoved"], 2)
        self.assertLess(cancelled["ApproximateNumberOfMessagesMoved"], 6)
        time.sleep(0.3)
        final = self.sqs.list_message_move_tasks(SourceArn=self.arn("dead"))["Results"][0]
        self.assertEqual(final["Status"], "CANCELLED")
        arrived = int(self.attributes(other, "ApproximateNumberOfMessages")
                      ["ApproximateNumberOfMessages"])
        left = int(self.attributes(dlq, "ApproximateNumberOfMessages")
                   ["ApproximateNumberOfMessages"])
        self.assertEqual(arrived + left, 6)
        self.assertEqual(arrived, final["ApproximateNumberOfMessagesMoved"])
        for handle_value, code in [("not-a-handle", "InvalidParameterValue"),
                                   (handle, "InvalidParameterValue")]:
            with self.assertRaises(botocore.exceptions.ClientError) as c:
                self.sqs.cancel_message_move_task(TaskHandle=handle_value)
            self.assertEqual(error_code(c), code)

    def test_purge(self):
        url = self.create("purge")
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "x"} for i in range(3)])
        self.sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=30)
        self.receive(url, MaxNumberOfMessages=1)
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(self.attributes(url, "ApproximateNumberOfMessages",
                                         "ApproximateNumberOfMessagesNotVisible",
                                         "ApproximateNumberOfMessagesDelayed"),
                         {"ApproximateNumberOfMessages": "0",
                          "ApproximateNumberOfMessagesNotVisible": "0",
                          "ApproximateNumberOfMessagesDelayed": "0"})
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual((error_code(c), error_message(c)), (
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            "Only one PurgeQueue operation on purge is allowed every 60 seconds."))
        self.assertEqual(c.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.sqs.send_message(QueueUrl=url, MessageBody="after")
        self.assertEqual([m["Body"] for m in self.receive(url)], ["after"])

    # --- tags and permissions -------------------------------------------------------------------

    def test_tags(self):
        url = self.sqs.create_queue(QueueName="tagged", tags={"a": "1"})["QueueUrl"]
        self.sqs.tag_queue(QueueUrl=url, Tags={"b": "2", "c": ""})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"],
                         {"a": "1", "b": "2", "c": ""})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["a", "c", "nope"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url)["Tags"], {"b": "2"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["b"])
        self.assertNotIn("Tags", self.sqs.list_queue_tags(QueueUrl=url))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.tag_queue(QueueUrl=url, Tags={f"k{i}": "v" for i in range(51)})
        self.assertEqual(error_code(c), "InvalidParameterValue")
        self.assertNotIn("Tags", self.sqs.list_queue_tags(QueueUrl=url))
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.list_queue_tags(QueueUrl=url + "-nope")

    def test_permissions(self):
        url = self.create("shared")
        self.sqs.add_permission(QueueUrl=url, Label="cross", AWSAccountIds=[ACCOUNT,
                                                                             "668614515564"],
                                Actions=["ReceiveMessage"])
        policy = json.loads(self.attributes(url, "Policy")["Policy"])
        self.assertEqual(policy, {
            "Version": "2008-10-17", "Id": self.arn("shared") + "/SQSDefaultPolicy",
            "Statement": [{"Sid": "cross", "Effect": "Allow",
                           "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:root",
                                                 "arn:aws:iam::668614515564:root"]},
                           "Action": "SQS:ReceiveMessage", "Resource": self.arn("shared")}]})
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.add_permission(QueueUrl=url, Label="cross", AWSAccountIds=[ACCOUNT],
                                    Actions=["SendMessage"])
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue",
            "Value cross for parameter Label is invalid. Reason: Already exists."))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.add_permission(QueueUrl=url, Label="many", AWSAccountIds=[ACCOUNT],
                                    Actions=["SendMessage"] * 8)
        self.assertEqual(error_code(c), "OverLimit")
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.add_permission(QueueUrl=url, Label="owner", AWSAccountIds=[ACCOUNT],
                                    Actions=["CreateQueue"])
        self.assertEqual(error_code(c), "InvalidParameterValue")
        self.sqs.add_permission(QueueUrl=url, Label="second", AWSAccountIds=[ACCOUNT],
                                Actions=["SendMessage", "DeleteMessage"])
        self.sqs.remove_permission(QueueUrl=url, Label="cross")
        statements = json.loads(self.attributes(url, "Policy")["Policy"])["Statement"]
        self.assertEqual([s["Sid"] for s in statements], ["second"])
        self.assertEqual(statements[0]["Action"], ["SQS:SendMessage", "SQS:DeleteMessage"])
        self.sqs.remove_permission(QueueUrl=url, Label="second")
        self.assertNotIn("Policy", self.attributes(url))
        with self.assertRaises(botocore.exceptions.ClientError) as c:
            self.sqs.remove_permission(QueueUrl=url, Label="second")
        self.assertEqual((error_code(c), error_message(c)), (
            "InvalidParameterValue",
            "Value second for parameter Label is invalid. Reason: can't find label."))

    # --- wire protocols by hand -----------------------------------------------------------------

    def test_query_protocol_by_hand(self):
        url = self.create("wire")
        # Action at the queue URL: QueueUrl comes from the path.
        status, _, body = query_post(self.server, url, {
            "Action": "SendMessage", "Version": "2012-11-05", "MessageBody": "by hand & <xml>",
            "MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "v"})
        self.assertEqual(status, 200, body)
        self.assertIn("<SendMessageResponse", body)
        self.assertIn(f"<MD5OfMessageBody>{md5_of_body('by hand & <xml>')}</MD5OfMessageBody>",
                      body)
        self.assertIn("<MD5OfMessageAttributes>"
                      f"{md5_of_attributes({'k': {'DataType': 'String', 'StringValue': 'v'}})}"
                      "</MD5OfMessageAttributes>", body)
        status, _, body = query_post(self.server, url, {
            "Action": "ReceiveMessage", "MessageAttributeName.1": "All",
            "AttributeName.1": "SenderId", "VisibilityTimeout": "0"})
        self.assertEqual(status, 200, body)
        self.assertIn("<Body>by hand &amp; &lt;xml&gt;</Body>", body)
        self.assertIn("<Attribute><Name>SenderId</Name><Value>123456789012</Value></Attribute>",
                      body)
        self.assertIn("<MessageAttribute><Name>k</Name>", body)
        status, _, body = query_post(self.server, url, {
            "Action": "GetQueueAttributes", "AttributeName.1": "All"})
        self.assertIn("<Attribute><Name>VisibilityTimeout</Name><Value>30</Value></Attribute>",
                      body)
        # GET with the Action in the query string works too.
        status, _, body = signed_request(self.server, "GET", url + "?Action=GetQueueAttributes"
                                         "&AttributeName.1=QueueArn")
        self.assertEqual(status, 200, body)
        self.assertIn(f"<Value>{self.arn('wire')}</Value>", body)
        # An explicit QueueUrl parameter wins over the path.
        other = self.create("wire-other")
        status, _, body = query_post(self.server, url, {
            "Action": "GetQueueAttributes", "QueueUrl": other, "AttributeName.1": "QueueArn"})
        self.assertIn(self.arn("wire-other"), body)
        status, _, body = query_post(self.server, f"{self.server.endpoint}/{ACCOUNT}/gone", {
            "Action": "GetQueueAttributes", "AttributeName.1": "All"})
        self.assertEqual(status, 400)
        self.assertIn("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>", body)
        self.assertIn("<Message>The specified queue does not exist for this wsdl version.",
                      body)
        self.assertIn("<Type>Sender</Type>", body)
        status, _, body = query_post(self.server, url, {"Action": "GetQueueAttributes",
                                                        "AttributeName.1": "Foobar"})
        self.assertEqual(status, 400)
        self.assertIn("<Code>InvalidAttributeName</Code>", body)
        self.assertIn("<Message>Unknown Attribute Foobar.</Message>", body)
        status, _, body = query_post(self.server, url, {"Action": "FooBar"})
        self.assertEqual(status, 400)
        self.assertIn("<Code>InvalidAction</Code>", body)
        self.assertIn("<Message>The action FooBar is not valid for this endpoint.</Message>", body)
        status, _, body = query_post(self.server, url, {"Action": "SendMessage"})
        self.assertIn("<Code>MissingParameter</Code>", body)
        self.assertIn("The request must contain the parameter MessageBody.", body)

    def test_json_protocol_by_hand(self):
        url = self.create("jwire")
        # The JSON protocol at the queue URL, without QueueUrl in the document.
        status, _, body = json_post(self.server, url, "SendMessage", {"MessageBody": "j"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["MD5OfMessageBody"], md5_of_body("j"))
        status, headers, body = json_post(self.server, self.server.endpoint, "GetQueueUrl",
                                          {"QueueName": "missing"})
        self.assertEqual(status, 400)
        headers = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(headers["x-amzn-query-error"],
                         "AWS.SimpleQueueService.NonExistentQueue;Sender")
        self.assertEqual(json.loads(body), {"__type": "QueueDoesNotExist",
                                            "message": "The specified queue does not exist."})
        status, headers, body = json_post(self.server, url, "ReceiveMessage",
                                          {"MaxNumberOfMessages": 11})
        headers = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(json.loads(body)["__type"], "InvalidParameterValueException")
        self.assertEqual(headers["x-amzn-query-error"], "InvalidParameterValue;Sender")
        status, _, body = json_post(self.server, url, "GetQueueAttributes",
                                    {"AttributeNames": ["Bogus"]})
        self.assertEqual(json.loads(body)["__type"], "InvalidAttributeName")

    # --- the real AWS CLI -----------------------------------------------------------------------

    def test_aws_cli(self):
        cli = self.server.cli
        url = cli("sqs", "create-queue", "--queue-name", "cli-q",
                  "--attributes", "VisibilityTimeout=5")["QueueUrl"]
        self.assertEqual(url, f"{self.server.endpoint}/{ACCOUNT}/cli-q")
        sent = cli("sqs", "send-message", "--queue-url", url, "--message-body", "from cli",
                   "--message-attributes",
                   '{"k": {"DataType": "String", "StringValue": "v"}}')
        self.assertEqual(sent["MD5OfMessageBody"], md5_of_body("from cli"))
        got = cli("sqs", "receive-message", "--queue-url", url, "--message-attribute-names",
                  "All", "--attribute-names", "All", "--wait-time-seconds", "1")["Messages"]
        self.assertEqual((got[0]["Body"], got[0]["MessageAttributes"]["k"]["StringValue"]),
                         ("from cli", "v"))
        cli("sqs", "delete-message", "--queue-url", url, "--receipt-handle",
            got[0]["ReceiptHandle"])
        attrs = cli("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
                    "All")["Attributes"]
        self.assertEqual((attrs["VisibilityTimeout"], attrs["ApproximateNumberOfMessages"],
                          attrs["ApproximateNumberOfMessagesNotVisible"]), ("5", "0", "0"))
        rc, _, err = cli("sqs", "get-queue-url", "--queue-name", "cli-none", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("AWS.SimpleQueueService.NonExistentQueue", err)


class DurabilityTest(unittest.TestCase):
    """kill -9: every message SendMessage acknowledged is there after a restart, and receipts,
    receive counts and deletes persisted."""

    def test_kill9_keeps_acknowledged_messages(self):
        data_dir = tempfile.mkdtemp(prefix="gc-e2e-sqs-")
        store = harness.store_url()
        server = harness.Server(data_dir=data_dir, store=store).start()
        try:
            if store:
                server.reset()  # a shared PostgreSQL database: start from nothing
            sqs = sqs_client(server, pool=16)
            url = sqs.create_queue(QueueName="durable")["QueueUrl"]
            fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={
                "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
            acked = []
            lock = threading.Lock()

            def send(worker):
                client = sqs_client(server)
                for i in range(25):
                    if i % 5 == 0:
                        r = client.send_message_batch(QueueUrl=url, Entries=[
                            {"Id": str(j), "MessageBody": f"w{worker}-{i}-{j}"}
                            for j in range(5)])
                        ids = [s["MessageId"] for s in r["Successful"]]
                    else:
                        ids = [client.send_message(QueueUrl=url,
                                                   MessageBody=f"w{worker}-{i}")["MessageId"]]
                    with lock:
                        acked.extend(ids)

            workers = [threading.Thread(target=send, args=(w,)) for w in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            for i in range(5):
                sqs.send_message(QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g")
            # In flight for 10 minutes, and one deleted, before the crash.
            inflight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3,
                                           VisibilityTimeout=600)["Messages"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=inflight[0]["ReceiptHandle"])
            fifo_first = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=2,
                                             VisibilityTimeout=600)["Messages"]
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            server.stop()

            server = harness.Server(data_dir=data_dir, store=store).start()
            sqs = sqs_client(server)
            seen = {m["MessageId"] for m in inflight}
            while True:
                batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                            VisibilityTimeout=600).get("Messages", [])
                if not batch:
                    break
                for m in batch:
                    self.assertNotIn(m["MessageId"], seen, "received twice")
                    seen.add(m["MessageId"])
            self.assertEqual(len(acked), 4 * (20 + 25))
            self.assertEqual(seen, set(acked))
            # Still in flight after the restart; the deleted one is gone for good.
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            self.assertEqual(int(attrs["ApproximateNumberOfMessagesNotVisible"]),
                             len(acked) - 1)
            self.assertEqual(sqs.receive_message(QueueUrl=fifo).get("Messages", []), [])
            sqs.change_message_visibility(QueueUrl=fifo,
                                          ReceiptHandle=fifo_first[0]["ReceiptHandle"],
                                          VisibilityTimeout=0)
            sqs.change_message_visibility(QueueUrl=fifo,
                                          ReceiptHandle=fifo_first[1]["ReceiptHandle"],
                                          VisibilityTimeout=0)
            got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10,
                                      AttributeNames=["ApproximateReceiveCount"])["Messages"]
            self.assertEqual([m["Body"] for m in got], [f"f{i}" for i in range(5)])
            self.assertEqual(got[0]["Attributes"]["ApproximateReceiveCount"], "2")
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    harness.main()
