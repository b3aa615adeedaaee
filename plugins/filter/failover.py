# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the failover role: pg_waldump_summary, pgbouncer_repoint, failover_verdict
(the logic lives in module_utils/failover.py, unit-tested directly)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.module_utils import failover


def pg_waldump_summary(result, start_lsn):
    """A registered pg_waldump command result (stdout, stderr) -> end of WAL, lost bytes, commits."""
    if not isinstance(result, dict):
        raise AnsibleFilterError('pg_waldump_summary: expects the registered result of the pg_waldump command')
    try:
        return failover.parse_waldump(result.get('stdout', ''), result.get('stderr', ''), start_lsn)
    except ValueError as exc:
        raise AnsibleFilterError(f'pg_waldump_summary: {exc}') from exc


def pgbouncer_repoint(ini_text, old_host, old_port, new_host, new_port):
    try:
        return failover.pgbouncer_repoint(ini_text, str(old_host), old_port, str(new_host), new_port)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f'pgbouncer_repoint: {exc}') from exc


def failover_verdict(standby, primary, loss, rpo_s, force=False):
    if not all(isinstance(x, dict) for x in (standby, primary, loss)):
        raise AnsibleFilterError('failover_verdict: standby, primary and loss must be dictionaries')
    try:
        return failover.failover_verdict(standby, primary, loss, float(rpo_s), bool(force))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f'failover_verdict: {exc}') from exc


class FilterModule:
    def filters(self):
        return {
            'pg_waldump_summary': pg_waldump_summary,
            'pgbouncer_repoint': pgbouncer_repoint,
            'failover_verdict': failover_verdict,
        }
