"""The S3 server fixture later tests build on: real HTTP on 127.0.0.1, multipart included."""

from __future__ import annotations

import hashlib
import io
import os
from urllib.parse import urlparse

import boto3


def test_s3_server_speaks_the_s3_api_on_loopback(s3_server):
    assert urlparse(s3_server).hostname == '127.0.0.1'
    s3 = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1')
    s3.create_bucket(Bucket='backups')
    body = os.urandom(12 * 1024 * 1024)  # above the multipart threshold of upload_fileobj
    digest = hashlib.sha256(body).hexdigest()
    s3.upload_fileobj(io.BytesIO(body), 'backups', 'db/app.dump', ExtraArgs={'Metadata': {'sha256': digest}})
    head = s3.head_object(Bucket='backups', Key='db/app.dump')
    assert head['Metadata']['sha256'] == digest
    assert head['ContentLength'] == len(body)
    assert '-' in head['ETag']  # a multipart upload's ETag
    assert hashlib.sha256(s3.get_object(Bucket='backups', Key='db/app.dump')['Body'].read()).hexdigest() == digest
