# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 plumbing shared by every module of the collection that talks to S3.

One place builds the boto3 client, with bounded waits: a connect timeout, a read timeout (the
longest silence on an open connection, also between two chunks of a download) and a bounded
number of retries (botocore's standard retry mode). An endpoint that accepts connections and
never answers therefore fails after at most (1 + retries) x (read timeout) plus botocore's short
backoff, with a message that says what timed out, where (scheme, host and port of the endpoint;
bucket and key) and never the keys.

The pure parts (argument spec, validation, botocore Config arguments, the error description)
import nothing from boto3 and are unit tested directly.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import traceback
from urllib.parse import urlsplit

BOTO3_IMPORT_ERROR = None
# boto3 itself is imported when a client is made (_boto3()): importing it costs about half a
# CPU-second, which every run of a module that may use S3 paid before knowing whether it would.
# botocore's exceptions are cheap and are what the modules' except clauses name.
try:
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=unused-import  # re-exported to the modules
    HAS_BOTO3 = importlib.util.find_spec('boto3') is not None
    if not HAS_BOTO3:
        BOTO3_IMPORT_ERROR = 'No module named boto3'
except ImportError:  # pragma: no cover - exercised on hosts without boto3
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

    class BotoCoreError(Exception):  # type: ignore[no-redef]
        """Stand-in so the except clauses stay valid without boto3."""

    class ClientError(Exception):  # type: ignore[no-redef]
        """Stand-in so the except clauses stay valid without boto3."""


def _boto3():
    """boto3 and botocore's Config, imported on first use."""
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore.config import Config  # pylint: disable=import-outside-toplevel
    return boto3, Config


DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_READ_TIMEOUT = 5
DEFAULT_RETRIES = 3
MAX_CONNECT_TIMEOUT = 300
MAX_READ_TIMEOUT = 3600
MAX_RETRIES = 10
MISSING_CODES = ('404', 'NoSuchKey', 'NoSuchBucket', 'NotFound')
CREDENTIAL_CODES = ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AuthorizationHeaderMalformed',
                    'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId')
DENIED_CODES = ('AccessDenied', '403', 'AllAccessDisabled', 'Forbidden')


def s3_common_argument_spec() -> dict:
    """The connection options of every S3 module (names and aliases as they have always been)."""
    return copy.deepcopy(dict(
        endpoint_url=dict(type='str'),
        region=dict(type='str'),
        aws_access_key=dict(type='str', no_log=True),
        aws_secret_key=dict(type='str', no_log=True),
        s3_connect_timeout=dict(type='float', default=DEFAULT_CONNECT_TIMEOUT),
        s3_read_timeout=dict(type='float', default=DEFAULT_READ_TIMEOUT),
        s3_retries=dict(type='int', default=DEFAULT_RETRIES),
    ))


def validate_s3_params(params: dict) -> list[str]:
    """Problems of the S3 options (empty when fine): every wait must be a real bound."""
    problems = []
    for key, highest in (('s3_connect_timeout', MAX_CONNECT_TIMEOUT), ('s3_read_timeout', MAX_READ_TIMEOUT)):
        value = params.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            problems.append(f'{key} must be a number of seconds, got {value!r}')
        elif value <= 0:
            problems.append(f'{key} must be positive (seconds; 0 would mean no bound), got {value:g}')
        elif value > highest:
            problems.append(f'{key} must be at most {highest} seconds, got {value:g}')
    retries = params.get('s3_retries')
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int):
            problems.append(f's3_retries must be a whole number, got {retries!r}')
        elif not 0 <= retries <= MAX_RETRIES:
            problems.append(f's3_retries must be between 0 and {MAX_RETRIES}, got {retries}')
    endpoint = params.get('endpoint_url')
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            problems.append(f'endpoint_url must be an http:// or https:// URL, got {describe_endpoint(endpoint)!r}')
    return problems


def client_config_kwargs(params: dict) -> dict:
    """Arguments of botocore's Config: the timeouts and retries of the options (or defaults)."""
    def pick(key, default):
        value = params.get(key)
        return default if value is None else value

    return {
        'connect_timeout': float(pick('s3_connect_timeout', DEFAULT_CONNECT_TIMEOUT)),
        'read_timeout': float(pick('s3_read_timeout', DEFAULT_READ_TIMEOUT)),
        'retries': {'mode': 'standard', 'max_attempts': int(pick('s3_retries', DEFAULT_RETRIES))},
    }


def describe_endpoint(endpoint_url: str | None, region: str | None = None) -> str:
    """scheme://host:port of the endpoint (never a user, password, path or query)."""
    if not endpoint_url:
        return f"the AWS S3 endpoint{f' of region {region}' if region else ''}"
    try:
        parts = urlsplit(endpoint_url)
        host = parts.hostname or '?'
        port = parts.port
    except ValueError:
        return 'an unparsable endpoint_url'
    if ':' in host:
        host = f'[{host}]'
    if port is None:
        port = {'https': 443, 'http': 80}.get(parts.scheme)
    return f"{parts.scheme or '?'}://{host}{f':{port}' if port else ''}"


def error_code(exc: Exception) -> str:
    """The S3 error code of a ClientError ('NoSuchKey', '404', ...), '' for anything else."""
    response = getattr(exc, 'response', None) or {}
    return str((response.get('Error') or {}).get('Code', ''))


def is_missing(exc: Exception) -> bool:
    return error_code(exc) in MISSING_CODES


def scrub_keys(text: str, params: dict) -> str:
    """The text without the access key or the secret key (should a library ever print them)."""
    for key in ('aws_secret_key', 'aws_access_key'):
        value = params.get(key)
        if value and len(str(value)) >= 4:
            text = text.replace(str(value), '********')
    return text


def describe_s3_error(exc: Exception, params: dict, action: str, bucket: str | None = None,
                      key: str | None = None) -> str:
    """One line saying what failed: what was being done (action), on which object, at which
    endpoint, and why: connect timeout, read timeout (with the bounds used), refused
    credentials, missing bucket or key, access denied. Never the keys."""
    where = f's3://{bucket}/{key}' if bucket and key else (f's3://{bucket}' if bucket else 'S3')
    endpoint = describe_endpoint(params.get('endpoint_url'), params.get('region'))
    kwargs = client_config_kwargs(params)
    attempts = kwargs['retries']['max_attempts'] + 1
    name = type(exc).__name__
    code = error_code(exc)
    if name == 'ConnectTimeoutError':
        why = (f"connect timeout: no TCP connection to {endpoint} within s3_connect_timeout "
               f"{kwargs['connect_timeout']:g}s ({attempts} attempt(s), s3_retries {attempts - 1})")
    elif name == 'ReadTimeoutError':
        why = (f"read timeout: {endpoint} accepted the connection but sent nothing for s3_read_timeout "
               f"{kwargs['read_timeout']:g}s ({attempts} attempt(s), s3_retries {attempts - 1}); the endpoint "
               "is hung or overloaded")
    elif name == 'EndpointConnectionError':
        why = f'cannot connect to {endpoint} (refused or unreachable, {attempts} attempt(s))'
    elif name in ('ConnectionClosedError', 'ProxyConnectionError', 'SSLError', 'ResponseStreamingError'):
        why = f'the connection to {endpoint} failed ({name}): {_short(exc)}'
    elif name in ('NoCredentialsError', 'PartialCredentialsError'):
        why = 'no S3 credentials: set aws_access_key and aws_secret_key (or the environment/instance profile)'
    elif code in CREDENTIAL_CODES:
        hint = ' (wrong aws_secret_key?)' if code == 'SignatureDoesNotMatch' else \
            ' (unknown aws_access_key?)' if code == 'InvalidAccessKeyId' else ''
        why = f'{endpoint} refused the credentials: {code}{hint}'
    elif code in ('NoSuchBucket',):
        why = f'the bucket {bucket} does not exist at {endpoint}'
    elif code in MISSING_CODES:
        why = f'{where} does not exist'
    elif code == '403':  # a HEAD answer has no body, so no error code
        why = f'access denied by {endpoint} (403): wrong keys, or the credentials lack the permission'
    elif code in DENIED_CODES:
        why = f'access denied by {endpoint} ({code}): the credentials lack the permission'
    elif code:
        why = f'{endpoint} answered {code}: {_short(exc)}'
    else:
        why = f'{name}: {_short(exc)}'
    return scrub_keys(f'{action} {where}: {why}', params)


def _short(exc: Exception) -> str:
    return ' '.join(str(exc).split())[:300]


class S3Error(Exception):
    """An S3 call that failed, with the described reason as its message."""


def s3_client(params: dict):
    """The boto3 S3 client of the options; raises S3Error (boto3 missing, invalid settings)."""
    if not HAS_BOTO3:
        raise S3Error('boto3 is required for S3 (pip install boto3)')
    problems = validate_s3_params(params)
    if problems:
        raise S3Error('; '.join(problems))
    try:
        boto3, Config = _boto3()  # pylint: disable=invalid-name
    except ImportError as exc:
        raise S3Error(f'boto3 is required for S3 and cannot be imported: {exc}') from None
    try:
        return boto3.client(
            's3', endpoint_url=params.get('endpoint_url') or None, region_name=params.get('region') or None,
            aws_access_key_id=params.get('aws_access_key') or None,
            aws_secret_access_key=params.get('aws_secret_key') or None,
            config=Config(**client_config_kwargs(params)))
    except (BotoCoreError, ValueError) as exc:
        raise S3Error(scrub_keys(f'invalid S3 settings: {_short(exc)}', params)) from None


def module_s3_client(module):
    """s3_client() for a module, or fail_json with the reason."""
    if not HAS_BOTO3:
        from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel
        module.fail_json(msg=missing_required_lib('boto3'), exception=BOTO3_IMPORT_ERROR)
    try:
        return s3_client(module.params)
    except S3Error as exc:
        module.fail_json(msg=f'Invalid options: {exc}')
    return None  # not reached
