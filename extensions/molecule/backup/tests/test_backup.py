"""State after backups, a failed verification and a good run (testinfra, through docker exec)."""

from __future__ import annotations

import json
import shlex


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


FINGERPRINT = (
    "SELECT format('%s.%s', n.nspname, c.relname) || '|' || (xpath('/row/f/text()', query_to_xml(format("
    "'SELECT count(*) || '':'' || coalesce(sum(hashtext(t::text)::bigint), 0) AS f FROM %I.%I t', "
    "n.nspname, c.relname), false, true, '')))[1]::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' "
    "ORDER BY 1")


def psql(host, database, query):
    return host.check_output(f'runuser -u postgres -- psql -d {database} -XAt -c {shlex.quote(query)}')


def test_the_restore_brought_shop_back_as_it_was_backed_up(host):
    expected = host.file('/var/tmp/shop-expected.txt').content_string.strip()
    assert 'public.customers|50000:' in expected
    assert psql(host, 'shop', FINGERPRINT) == expected


def test_the_replaced_database_is_kept_and_was_dumped_first(host):
    kept = psql(host, 'postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'shop\\_\\_before\\_%'").split()
    assert len(kept) == 1
    assert psql(host, kept[0], 'SELECT count(*) FROM public.customers') == '0'   # the damaged state, kept
    safety = host.check_output('ls /var/backups/postgresql/safety/shop/*.dump.json').split()
    assert len(safety) == 1
    manifest = json.loads(host.file(safety[0]).content_string)
    assert {'schema': 'public', 'name': 'customers', 'rows': 0} in manifest['tables']
    assert manifest['database'] == 'shop' and len(manifest['sha256']) == 64


def test_no_temporary_or_drill_database_remains(host):
    left = psql(host, 'postgres', "SELECT string_agg(datname, ',') FROM pg_database WHERE datname ~ "
                                  "'(__restore_|__drill|^runbook_verify)'")
    assert left == ''
