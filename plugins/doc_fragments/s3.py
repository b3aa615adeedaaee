# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """S3 connection options shared by the modules that read or write S3."""

    DOCUMENTATION = r'''
options:
  endpoint_url:
    description:
      - S3-compatible endpoint (MinIO, Ceph, ...), an C(http://) or C(https://) URL. Default, AWS.
    type: str
  region:
    description: S3 region.
    type: str
  aws_access_key:
    description: S3 access key (default from the environment or the instance profile). Never logged.
    type: str
  aws_secret_key:
    description: S3 secret key. Never logged, never in a message.
    type: str
  s3_connect_timeout:
    description:
      - Longest wait, in seconds, for the TCP (and TLS) connection to the S3 endpoint, per attempt.
        Positive, at most 300.
    type: float
    default: 10
  s3_read_timeout:
    description:
      - Longest silence, in seconds, on an open connection to the S3 endpoint, per attempt (waiting
        for an answer, or between two chunks of a download). Positive, at most 3600.
      - An endpoint that accepts connections and never answers fails the task after about
        (1 + O(s3_retries)) x O(s3_read_timeout) seconds (20 s with the defaults), with a message
        naming the read timeout. A healthy S3 endpoint answers in milliseconds; raise it for a
        gateway known to be slow to list or to start a download.
    type: float
    default: 5
  s3_retries:
    description:
      - Retries of a failed S3 request (connection errors, timeouts, throttling, 5xx answers),
        after the first attempt, with botocore's standard retry mode (short exponential backoff).
        Between 0 and 10.
    type: int
    default: 3
requirements:
  - boto3
'''
