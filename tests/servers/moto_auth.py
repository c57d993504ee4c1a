"""Prepare a moto server for the wrong-credentials test, then switch its IAM authentication on.

Usage: moto_auth.py ENDPOINT BUCKET PREFIX DIR
Uploads DIR to s3://BUCKET/PREFIX/, creates an IAM user allowed s3:* with an access key, turns on
moto's request authentication (POST /moto-api/reset-auth with 0 unauthenticated actions left: from
then on moto checks that the access key exists and the SigV4 signature matches its secret), and
prints {"key": ..., "secret": ...}. Runs with the moto venv's python (boto3 comes with moto).
Only for a moto of the test's own: the switch is server-wide.
"""
import json
import os
import sys
import urllib.request

import boto3

endpoint, bucket, prefix, root = sys.argv[1:5]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket=bucket)
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        s3.upload_file(p, bucket, prefix + "/" + os.path.relpath(p, root).replace(os.sep, "/"))
iam = boto3.client("iam", **kw)
iam.create_user(UserName="lakesight-reader")
iam.put_user_policy(
    UserName="lakesight-reader",
    PolicyName="read-lake",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    ),
)
key = iam.create_access_key(UserName="lakesight-reader")["AccessKey"]
req = urllib.request.Request(
    endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "application/octet-stream"}
)
urllib.request.urlopen(req).read()
print(json.dumps({"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
