"""State after backups, a failed verification and a good run (testinfra, through docker exec)."""

from __future__ import annotations

import json


def manifests(host, database):
    out = host.check_output(f'ls /var/backups/postgresql/{database}')
    return sorted(name for name in out.split() if name.endswith('.dump.json'))


def test_new_dumps_are_verified_and_restorable(host):
    newest = manifests(host, 'auth')[-1]
    data = json.loads(host.file(f'/var/backups/postgresql/auth/{newest}').content_string)
    assert data['verified'] is True and data['verification']['restore']['ok'] is True
    assert {'schema': 'public', 'name': 'users', 'rows': 20000} in data['tables']


def test_retention_kept_the_gfs_set_and_the_newest(host):
    names = manifests(host, 'shop')
    assert 8 <= len(names) <= 1 + 7 + 4 + 12  # the 60-day history was pruned to the GFS set
    newest = json.loads(host.file(f'/var/backups/postgresql/shop/{names[-1]}').content_string)
    assert newest['verified'] is True


def test_globals_and_paths_were_archived(host):
    assert 'CREATE ROLE' in host.check_output('cat $(ls -t /var/backups/postgresql/globals/globals-*.sql | head -1)')
    newest = host.check_output('ls -t /var/backups/postgresql/files/paths-*.tar.gz | head -1')
    assert host.run(f'tar tzf {newest} etc/postgresql/15/main/postgresql.conf').rc == 0


def test_no_scratch_database_is_left(host):
    out = host.check_output("runuser -u postgres -- psql -Atc \"SELECT count(*) FROM pg_database WHERE datname LIKE 'runbook_verify%'\"")
    assert out == '0'
