# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker SDK for Python, imported only by the modules (and steps) that talk to Docker."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib


def import_docker():
    """The Docker SDK, or None and the traceback of the failed import (it costs a sixth of a second)."""
    try:
        import docker  # pylint: disable=import-outside-toplevel
    except ImportError:
        import traceback  # pylint: disable=import-outside-toplevel
        return None, traceback.format_exc()
    return docker, None


def connect(module, docker_host: str | None, timeout: int | None = None, **result):
    """(docker SDK module, a client that answered a ping), or fail_json with a clear message and ``result``."""
    docker, import_error = import_docker()
    if docker is None:
        module.fail_json(msg=missing_required_lib('docker (the Docker SDK for Python)'), exception=import_error, **result)
    extra = {} if timeout is None else {'timeout': timeout}
    try:
        client = docker.DockerClient(base_url=docker_host, **extra) if docker_host else docker.from_env(**extra)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several types for "no daemon"
        module.fail_json(msg=f'Cannot reach the Docker daemon: {exc}', **result)
    return docker, client
