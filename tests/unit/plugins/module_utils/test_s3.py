"""s3 and s3source: argument spec, bounds, botocore Config arguments, error descriptions, S3
source judgement and the checked download (botocore's own exception classes, a stub client
only where a network call would be)."""

from __future__ import annotations

import hashlib
import io
import os
import stat

import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from ansible_collections.runbook.maintenance.plugins.module_utils import s3source
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import RestoreError
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    client_config_kwargs,
    describe_endpoint,
    describe_s3_error,
    s3_client,
    s3_common_argument_spec,
    S3Error,
    validate_s3_params,
)

SECRET = 'unit-secret-key-value'
PARAMS = {'endpoint_url': 'http://user:pw@127.0.0.1:9000/some/path?x=1', 'region': 'eu-west-1',
          'aws_access_key': 'AKIAUNITTEST', 'aws_secret_key': SECRET,
          's3_connect_timeout': 10.0, 's3_read_timeout': 10.0, 's3_retries': 3}


def client_error(code: str, message: str = 'boom') -> ClientError:
    return ClientError({'Error': {'Code': code, 'Message': message}}, 'GetObject')


# ---- options ---------------------------------------------------------------------------------
def test_argument_spec_keeps_names_marks_secrets_and_bounds_waits():
    spec = s3_common_argument_spec()
    assert set(spec) == {'endpoint_url', 'region', 'aws_access_key', 'aws_secret_key', 's3_connect_timeout',
                         's3_read_timeout', 's3_retries'}
    assert spec['aws_secret_key']['no_log'] is True and spec['aws_access_key']['no_log'] is True
    assert spec['s3_connect_timeout']['default'] == 10 and spec['s3_retries']['default'] == 3
    spec['region']['type'] = 'changed'
    assert s3_common_argument_spec()['region']['type'] == 'str'    # a fresh copy every time


@pytest.mark.parametrize('changes, problem', [
    ({'s3_connect_timeout': 0}, 's3_connect_timeout must be positive'),
    ({'s3_read_timeout': -1.5}, 's3_read_timeout must be positive'),
    ({'s3_read_timeout': float('nan')}, 's3_read_timeout must be a number'),
    ({'s3_connect_timeout': 301}, 's3_connect_timeout must be at most 300'),
    ({'s3_read_timeout': 3601}, 's3_read_timeout must be at most 3600'),
    ({'s3_retries': -1}, 's3_retries must be between 0 and 10'),
    ({'s3_retries': 11}, 's3_retries must be between 0 and 10'),
    ({'s3_retries': True}, 's3_retries must be a whole number'),
    ({'endpoint_url': 'ftp://host'}, 'endpoint_url must be an http:// or https:// URL'),
    ({'endpoint_url': 'localhost:9000'}, 'endpoint_url must be an http:// or https:// URL'),
])
def test_bad_bounds_are_named(changes, problem):
    problems = validate_s3_params(dict(PARAMS, **changes))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_good_bounds_pass_and_become_a_standard_retry_config():
    assert validate_s3_params(PARAMS) == []
    assert validate_s3_params({'s3_retries': 0, 's3_read_timeout': 0.5}) == []
    kwargs = client_config_kwargs(dict(PARAMS, s3_read_timeout=7, s3_retries=0))
    assert kwargs == {'connect_timeout': 10.0, 'read_timeout': 7.0, 'retries': {'mode': 'standard', 'max_attempts': 0}}
    assert client_config_kwargs({}) == {'connect_timeout': 10.0, 'read_timeout': 5.0,
                                        'retries': {'mode': 'standard', 'max_attempts': 3}}
    Config(**kwargs)                                                   # botocore accepts it


def test_client_is_built_with_the_bounds_and_refuses_bad_ones():
    client = s3_client(PARAMS)
    assert client.meta.config.connect_timeout == 10.0 and client.meta.config.read_timeout == 10.0
    assert client.meta.config.retries['mode'] == 'standard'
    with pytest.raises(S3Error, match='s3_read_timeout must be positive'):
        s3_client(dict(PARAMS, s3_read_timeout=0))


# ---- messages --------------------------------------------------------------------------------
def test_endpoint_is_described_without_credentials_path_or_query():
    assert describe_endpoint(PARAMS['endpoint_url']) == 'http://127.0.0.1:9000'
    assert describe_endpoint('https://minio.example') == 'https://minio.example:443'
    assert describe_endpoint('http://[::1]:9000/') == 'http://[::1]:9000'
    assert describe_endpoint(None, 'eu-west-1') == 'the AWS S3 endpoint of region eu-west-1'


@pytest.mark.parametrize('exc, phrases', [
    (ReadTimeoutError(endpoint_url='http://127.0.0.1:9000/b/k'),
     ['read timeout', 'accepted the connection but sent nothing for s3_read_timeout 10s', '4 attempt(s)']),
    (ConnectTimeoutError(endpoint_url='http://127.0.0.1:9000/b/k'),
     ['connect timeout', 'no TCP connection to http://127.0.0.1:9000 within s3_connect_timeout 10s']),
    (EndpointConnectionError(endpoint_url='http://127.0.0.1:9000/b/k'), ['cannot connect to http://127.0.0.1:9000']),
    (NoCredentialsError(), ['no S3 credentials']),
    (client_error('SignatureDoesNotMatch'), ['refused the credentials: SignatureDoesNotMatch (wrong aws_secret_key?)']),
    (client_error('InvalidAccessKeyId'), ['refused the credentials: InvalidAccessKeyId (unknown aws_access_key?)']),
    (client_error('NoSuchKey'), ['s3://bucket/pg/app.dump does not exist']),
    (client_error('NoSuchBucket'), ['the bucket bucket does not exist']),
    (client_error('403'), ['access denied', 'wrong keys, or the credentials lack the permission']),
    (client_error('AccessDenied'), ['access denied', 'lack the permission']),
    (client_error('SlowDown', f'echoing {SECRET} back'), ['answered SlowDown', '********']),
])
def test_errors_say_what_failed_where_and_never_the_keys(exc, phrases):
    text = describe_s3_error(exc, PARAMS, 'cannot read', 'bucket', 'pg/app.dump')
    assert text.startswith('cannot read s3://bucket/pg/app.dump: ')
    for phrase in phrases:
        assert phrase in text, text
    assert SECRET not in text and 'AKIAUNITTEST' not in text and 'user:pw' not in text


# ---- S3 sources ------------------------------------------------------------------------------
def test_split_location():
    assert s3source.split_location(None, 'b', '/pg/app.dump') == ('b', 'pg/app.dump', None)
    assert s3source.split_location('s3://b/pg/app', None, None) == ('b', None, 'pg/app/')
    with pytest.raises(RestoreError, match='latest_in: not an S3 URL'):
        s3source.split_location('s3://', None, None)
    with pytest.raises(RestoreError, match='must name one object'):
        s3source.split_location(None, 'b', 'pg/')


MANIFEST = {'kind': 'database', 'database': 'app', 'format': 'custom', 'sha256': 'a' * 64, 'size': 3,
            'created_at': '2026-12-01T02:00:00Z', 'verified': True}


@pytest.mark.parametrize('manifest, kind, reason', [
    (None, 'database', 'no manifest (s3://b/k.json)'),
    (dict(MANIFEST, verified=False), 'database', 'failed verification'),
    ({k: v for k, v in MANIFEST.items() if k != 'verified'}, 'database', 'was never verified'),
    (dict(MANIFEST, database='other'), 'database', "not 'app'"),
    (dict(MANIFEST, format='directory'), 'database', 'not a single S3 object'),
    (dict(MANIFEST, kind='paths', format='tar'), 'database', 'paths backup, not a database dump'),
    (dict(MANIFEST, kind='globals'), 'paths', 'globals backup, not a paths backup'),
    (dict(MANIFEST, kind='paths', verified=None), 'paths', 'was never verified'),
])
def test_judge_refuses_with_the_reason(manifest, kind, reason):
    assert reason in s3source.judge(manifest, 's3://b/k.json', 'app', True, kind)


def test_judge_accepts_a_verified_dump_of_the_database():
    assert s3source.judge(MANIFEST, 's3://b/k.json', 'app', True) is None
    assert s3source.judge(dict(MANIFEST, verified=False), 's3://b/k.json', 'app', False) is None


class Body(io.BytesIO):
    pass


class StubClient:
    """Only get_object: the body of one object (the network part is tested against moto)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, Bucket, Key):  # noqa: N803 - boto3's names
        return {'Body': Body(self.data)}


def artefact(data: bytes, **manifest) -> s3source.S3Artefact:
    man = dict(MANIFEST, sha256=hashlib.sha256(data).hexdigest(), size=len(data), **manifest)
    return s3source.S3Artefact('b', 'pg/app.dump', len(data), man)


def test_download_is_private_hashed_and_checked(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    work = s3source.private_workdir(str(tmp_path))
    assert stat.S_IMODE(os.stat(work).st_mode) == 0o700 and os.path.dirname(work) == str(tmp_path)
    path, checked = s3source.download(StubClient(data), PARAMS, artefact(data), work)
    assert open(path, 'rb').read() == data and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert hashlib.sha256(data).hexdigest() in checked
    s3source.remove_workdir(work)
    assert not os.path.exists(work)


def test_download_refuses_a_mismatch_and_removes_the_file(tmp_path):
    data = b'abcdef'
    work = s3source.private_workdir(str(tmp_path))
    with pytest.raises(RestoreError, match='checksum: sha256 of s3://b/pg/app.dump is'):
        s3source.download(StubClient(b'abcdeX'), PARAMS, artefact(data), work)
    with pytest.raises(RestoreError, match='has 5 bytes, its manifest says 6'):
        s3source.download(StubClient(b'abcde'), PARAMS, artefact(data), work)
    assert os.listdir(work) == []


def test_download_never_follows_a_planted_name(tmp_path):
    data = b'abcdef'
    work = s3source.private_workdir(str(tmp_path))
    outside = tmp_path / 'outside'
    outside.write_bytes(b'keep')
    os.symlink(outside, os.path.join(work, 'app.dump'))
    with pytest.raises(RestoreError, match='cannot write the download'):
        s3source.download(StubClient(data), PARAMS, artefact(data), work)
    assert outside.read_bytes() == b'keep'


def test_object_size_or_metadata_differing_from_the_manifest_is_refused_before_download():
    info = {'ContentLength': 6, 'Metadata': {'sha256': 'b' * 64}}
    with pytest.raises(RestoreError, match=r'x-amz-meta-sha256\) of s3://b/k'):
        s3source.artefact_of('b', 'k', info, dict(MANIFEST, size=6))
    with pytest.raises(RestoreError, match='is 6 bytes, its manifest says 3'):
        s3source.artefact_of('b', 'k', {'ContentLength': 6}, MANIFEST)
    chosen = s3source.artefact_of('b', 'k', {'ContentLength': 3, 'Metadata': {'SHA256': 'A' * 64}}, MANIFEST)
    assert chosen.metadata_sha256 == 'a' * 64 and chosen.url == 's3://b/k'
