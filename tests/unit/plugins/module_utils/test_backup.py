"""backup: hashing, manifests, sniffing, archive reading, picking artefacts (real files, no mocks)."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    CHUNK_SIZE,
    Entry,
    archive_format_of,
    check_plain,
    compare_rows,
    copy_and_hash,
    expected_kind,
    format_timestamp,
    human_duration,
    human_size,
    is_candidate,
    manifest_path,
    newest_first,
    parse_manifest,
    parse_s3_url,
    parse_timestamp,
    previous_of,
    read_manifest,
    read_tar,
    sha256_file,
    size_drop_problem,
    sniff,
    stderr_errors,
    tree_size,
    validate_manifest,
    write_manifest,
)

UTC = datetime.timezone.utc
GOOD = {'sha256': 'a' * 64, 'size': 10, 'created_at': '2026-11-29T02:00:00Z', 'host': 'db1', 'database': 'app',
        'format': 'custom', 'tables': [{'schema': 'public', 'name': 'orders', 'rows': 3}]}


# ---- hashing -----------------------------------------------------------------------------------
def test_sha256_file_streams_across_chunks(tmp_path):
    data = os.urandom(CHUNK_SIZE * 2 + 123)
    path = tmp_path / 'blob'
    path.write_bytes(data)
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    assert sha256_file(str(empty)) == hashlib.sha256(b'').hexdigest()


def test_copy_and_hash_copies_and_hashes():
    data = os.urandom(CHUNK_SIZE + 7)
    out = io.BytesIO()
    assert copy_and_hash(io.BytesIO(data), out) == (hashlib.sha256(data).hexdigest(), len(data))
    assert out.getvalue() == data


def test_tree_size_counts_files_not_symlinks(tmp_path):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'a').write_bytes(b'x' * 10)
    (tmp_path / 'd' / 'sub').mkdir()
    (tmp_path / 'd' / 'sub' / 'b').write_bytes(b'x' * 5)
    os.symlink('/etc/hostname', tmp_path / 'd' / 'link')
    assert tree_size(str(tmp_path / 'd')) == 15
    assert tree_size(str(tmp_path / 'd' / 'a')) == 10


# ---- time --------------------------------------------------------------------------------------
@pytest.mark.parametrize('value', ['2026-11-29T02:00:00Z', '2026-11-29T02:00:00+00:00', '2026-11-29T03:00:00+01:00',
                                   '2026-11-29T02:00:00', '2026-11-29 02:00:00z'])
def test_parse_timestamp_is_utc(value):
    assert parse_timestamp(value) == datetime.datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize('value', ['', 'yesterday', None, 5, '2026-13-01T00:00:00Z'])
def test_parse_timestamp_rejects(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_format_timestamp_round_trips():
    moment = datetime.datetime(2026, 11, 29, 3, 0, 5, 123, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert format_timestamp(moment) == '2026-11-29T02:00:05Z'
    assert parse_timestamp(format_timestamp(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (45, '45s'), (60, '1m'), (725, '12m 5s'), (3600, '1h'),
                                           (12000, '3h 20m'), (86400 * 2 + 3600 * 4 + 59, '2d 4h'), (-90, '-1m 30s')])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize('size, text', [(0, '0 B'), (512, '512 B'), (1536, '1.5 KiB'), (20 * 1024 ** 2, '20.0 MiB')])
def test_human_size(size, text):
    assert human_size(size) == text


# ---- manifests ---------------------------------------------------------------------------------
def test_write_manifest_computes_hash_and_size_and_reads_back(tmp_path):
    artefact = tmp_path / 'app.dump'
    artefact.write_bytes(b'PGDMP' + b'\x00' * 100)
    written = write_manifest(str(artefact), {'created_at': '2026-11-29T02:00:00Z', 'host': 'db1', 'database': 'app',
                                             'format': 'custom', 'tables': [], 'extra': {'kept': True}})
    assert written['sha256'] == sha256_file(str(artefact)) and written['size'] == 105
    assert manifest_path(str(artefact)) == f'{artefact}.json'
    assert read_manifest(str(artefact)) == written
    assert json.loads((tmp_path / 'app.dump.json').read_text())['extra'] == {'kept': True}
    assert oct((tmp_path / 'app.dump.json').stat().st_mode & 0o777) == '0o600'  # private, like the artefact
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []  # no temporary file left


def test_write_manifest_keeps_given_values_and_defaults_created_at(tmp_path):
    artefact = tmp_path / 'x.tar.gz'
    artefact.write_bytes(b'abc')
    written = write_manifest(str(artefact), {'sha256': 'b' * 64, 'size': 3, 'format': 'tar', 'host': 'h',
                                             'database': None})
    assert written['sha256'] == 'b' * 64
    assert abs(parse_timestamp(written['created_at']) - datetime.datetime.now(UTC)).total_seconds() < 5


def test_write_manifest_refuses_invalid_content(tmp_path):
    artefact = tmp_path / 'x.dump'
    artefact.write_bytes(b'abc')
    with pytest.raises(ValueError, match='format must be one of'):
        write_manifest(str(artefact), {'format': 'zip'})
    assert not (tmp_path / 'x.dump.json').exists()


def test_directory_manifest_has_no_sha256(tmp_path):
    folder = tmp_path / 'app.dir'
    folder.mkdir()
    (folder / 'toc.dat').write_bytes(b'PGDMP')
    written = write_manifest(str(folder), {'format': 'directory', 'host': 'h', 'database': 'app', 'tables': []})
    assert written['sha256'] is None and written['size'] == 5
    assert read_manifest(str(folder))['size'] == 5
    assert (tmp_path / 'app.dir.json').exists()


def test_read_manifest_missing_and_broken(tmp_path):
    artefact = tmp_path / 'a.dump'
    with pytest.raises(FileNotFoundError):
        read_manifest(str(artefact))
    (tmp_path / 'a.dump.json').write_text('{"sha256": ')
    with pytest.raises(ValueError, match='is not valid JSON'):
        read_manifest(str(artefact))


@pytest.mark.parametrize('change, problem', [
    ({'sha256': 'xyz'}, 'sha256 is not 64 hex digits'),
    ({'sha256': None}, 'sha256 is not 64 hex digits'),
    ({'size': -1}, 'size is not a byte count'),
    ({'size': True}, 'size is not a byte count'),
    ({'created_at': 'last night'}, 'created_at: not an ISO-8601 time'),
    ({'format': 'zip'}, 'format must be one of'),
    ({'tables': {'orders': 3}}, 'tables is not a list'),
    ({'tables': [{'name': 'orders'}]}, 'needs a schema and a name'),
    ({'tables': [{'schema': 'public', 'name': 'orders', 'rows': -2}]}, 'rows is not a count'),
    ({'host': 5}, 'host is not a string'),
])
def test_validate_manifest_names_the_problem(change, problem):
    assert validate_manifest(GOOD) == []
    problems = validate_manifest(dict(GOOD, **change))
    assert len(problems) == 1 and problem in problems[0], problems


def test_validate_manifest_requires_the_core_keys():
    problems = validate_manifest({'host': 'db1'})
    assert problems == ["no 'sha256'", "no 'size'", "no 'created_at'", "no 'format'"]
    assert validate_manifest([1, 2]) == ['a manifest must be a JSON object, got list']
    assert validate_manifest(dict(GOOD, sha256=None, format='directory')) == []
    assert validate_manifest(dict(GOOD, tables=[{'schema': 'public', 'name': 'o', 'rows': None}])) == []


def test_parse_manifest_accepts_bytes_and_names_the_source():
    assert parse_manifest(json.dumps(GOOD).encode())['database'] == 'app'
    with pytest.raises(ValueError, match=r'^s3://b/k.json is invalid: no .size.'):
        parse_manifest(json.dumps({k: v for k, v in GOOD.items() if k != 'size'}), 's3://b/k.json')


# ---- kinds and formats ---------------------------------------------------------------------------
def test_sniff(tmp_path):
    def kind(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return sniff(str(path))

    assert kind('empty', b'') == 'empty'
    assert kind('custom', b'PGDMP\x01\x0f\x00') == 'custom'
    assert kind('gz', gzip.compress(b'hello')) == 'gzip'
    assert kind('sql', b'--\n-- PostgreSQL database dump\n--\n\nSET x = 1;\n') == 'sql'
    assert kind('sql2', b'CREATE TABLE t (id int);\n') == 'sql'
    assert kind('text', b'hello world\n') == 'text'
    assert kind('bin', b'\x00\x01\x02garbage') == 'binary'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        info = tarfile.TarInfo('a')
        info.size = 1
        tar.addfile(info, io.BytesIO(b'x'))
    assert kind('t.tar', buffer.getvalue()) == 'tar'
    (tmp_path / 'dump.dir').mkdir()
    assert sniff(str(tmp_path / 'dump.dir')) == 'other_directory'
    (tmp_path / 'dump.dir' / 'toc.dat').write_bytes(b'PGDMP')
    assert sniff(str(tmp_path / 'dump.dir')) == 'directory'


def test_archive_format_of():
    header = b'PGDMP\x01\x0f\x00\x04\x08'
    assert archive_format_of(header + b'\x01') == 'custom'
    assert archive_format_of(header + b'\x03') == 'tar'
    assert archive_format_of(header + b'\x05') == 'directory'
    assert archive_format_of(b'--\n-- PostgreSQL') is None
    assert archive_format_of(header + b'\x09') == 'unknown (9)'


@pytest.mark.parametrize('name, manifest_format, is_dir, kind', [
    ('app.dump', None, False, 'custom'), ('app.tar.gz', None, False, 'tar'), ('app.tgz', None, False, 'tar'),
    ('app.sql', None, False, 'plain'), ('app.bin', 'custom', False, 'custom'), ('app.tar.gz', 'directory', False, 'tar'),
    ('app.dump', 'plain', False, 'plain'), ('app.dir', 'directory', True, 'directory'), ('APP.DUMP', None, False, 'custom'),
])
def test_expected_kind(name, manifest_format, is_dir, kind):
    assert expected_kind(name, manifest_format, is_dir) == kind


def make_tar(path, files: dict[str, bytes], mode: str = 'w:gz') -> None:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_read_tar_reads_everything(tmp_path):
    archive = tmp_path / 'a.tar.gz'
    make_tar(archive, {'app/toc.dat': b'PGDMP', 'app/3001.dat.gz': os.urandom(5000), 'notes.txt': b'hi'})
    report = read_tar(str(archive))
    assert (report.members, report.files, report.bytes_read) == (3, 3, 5007)
    assert report.compression == 'gzip' and report.toc_dirs == ('app',)
    plain = tmp_path / 'a.tar'
    make_tar(plain, {'toc.dat': b'PGDMP'}, mode='w')
    assert read_tar(str(plain)).compression is None and read_tar(str(plain)).toc_dirs == ('',)


@pytest.mark.parametrize('damage, message', [
    (lambda data: data[:len(data) // 2], 'cannot be read to the end'),
    (lambda data: data[:20] + bytes([data[20] ^ 0xFF]) + data[21:], 'cannot be read to the end'),
    (lambda data: data[:-8] + b'\x00' * 8, 'cannot be read to the end'),  # CRC and length of the gzip trailer
    (lambda data: b'', 'empty'),
])
def test_read_tar_catches_damaged_gzip(tmp_path, damage, message):
    archive = tmp_path / 'a.tgz'
    make_tar(archive, {'toc.dat': b'PGDMP', 'data': os.urandom(200_000)})
    archive.write_bytes(damage(archive.read_bytes()))
    with pytest.raises(ValueError, match=message):
        read_tar(str(archive))


def test_read_tar_catches_what_tarfile_alone_accepts(tmp_path):
    archive = tmp_path / 'a.tar'
    make_tar(archive, {'one': b'1' * 1000, 'two': b'2' * 1000, 'three': b'3' * 1000}, mode='w')
    data = archive.read_bytes()
    # Cut right after the second member: tarfile sees a complete archive of two members.
    cut = tmp_path / 'cut.tar'
    cut.write_bytes(data[:512 + 1024 + 512 + 1024])
    with pytest.raises(ValueError, match='no end-of-archive marker'):
        read_tar(str(cut))
    # A damaged header of the second member: tarfile stops there as if the archive ended.
    broken = bytearray(data)
    broken[512 + 1024 + 100] ^= 0xFF  # inside the mode field of the header
    bad = tmp_path / 'bad.tar'
    bad.write_bytes(bytes(broken))
    with tarfile.open(bad) as tar:
        assert len(tar.getmembers()) == 1  # what tarfile alone concludes
    with pytest.raises(ValueError, match='damaged tar header'):
        read_tar(str(bad))


def test_read_tar_extracts_safely(tmp_path):
    archive = tmp_path / 'a.tar'
    make_tar(archive, {'dump/toc.dat': b'PGDMP', 'dump/1.dat': b'data'}, mode='w')
    out = tmp_path / 'out'
    out.mkdir()
    report = read_tar(str(archive), extract_to=str(out))
    assert (out / 'dump' / 'toc.dat').read_bytes() == b'PGDMP' and report.toc_dirs == ('dump',)
    evil = tmp_path / 'evil.tar'
    make_tar(evil, {'../escape': b'x'}, mode='w')
    with pytest.raises(ValueError, match='outside the extraction directory'):
        read_tar(str(evil), extract_to=str(out))
    assert not (tmp_path / 'escape').exists()
    linked = tmp_path / 'link.tar'
    with tarfile.open(linked, 'w') as tar:
        info = tarfile.TarInfo('passwd')
        info.type = tarfile.SYMTYPE
        info.linkname = '/etc/passwd'
        tar.addfile(info)
    with pytest.raises(ValueError, match='links and special files'):
        read_tar(str(linked), extract_to=str(out))


def test_check_plain(tmp_path):
    dump = b'--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE t ();\n\n--\n-- PostgreSQL database dump complete\n--\n\n'
    path = tmp_path / 'app.sql'
    path.write_bytes(dump)
    assert 'complete trailer present' in check_plain(str(path))
    path.write_bytes(dump[:-40])
    with pytest.raises(ValueError, match='the SQL dump is incomplete'):
        check_plain(str(path))
    gz = tmp_path / 'app.sql.gz'
    gz.write_bytes(gzip.compress(dump))
    assert check_plain(str(gz)).startswith('plain SQL dump (gzip-compressed')
    gz.write_bytes(gzip.compress(dump)[:-10])
    with pytest.raises(ValueError, match='cannot be read to the end'):
        check_plain(str(gz))
    path.write_bytes(b'')
    with pytest.raises(ValueError, match='empty'):
        check_plain(str(path))
    path.write_bytes(b'PGDMP\x01\x0f')
    with pytest.raises(ValueError, match='custom-format archive, not a plain file'):
        check_plain(str(path))
    path.write_bytes(b'key = value\n')
    assert check_plain(str(path)) == 'plain file (12 bytes) read to its end'


def test_stderr_errors_ignores_warnings():
    err = 'pg_restore: warning: something harmless\npg_restore: error: could not read  from input\nDETAIL: x\n\n'
    assert stderr_errors(err) == ['pg_restore: error: could not read from input']
    assert stderr_errors('') == [] and stderr_errors(None) == []


# ---- locations -----------------------------------------------------------------------------------
@pytest.mark.parametrize('url, expected', [
    ('s3://backups', ('backups', '')), ('s3://backups/', ('backups', '')), ('s3://backups/pg/app', ('backups', 'pg/app/')),
    ('s3://backups/pg/app/', ('backups', 'pg/app/')),
])
def test_parse_s3_url(url, expected):
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize('url', ['', 'backups/pg', 's3://', 'http://x/y'])
def test_parse_s3_url_rejects(url):
    with pytest.raises(ValueError, match='not an S3 URL'):
        parse_s3_url(url)


def test_is_candidate():
    assert is_candidate('app-1.dump') and is_candidate('app-1.dump', 'app-*')
    assert not is_candidate('app-1.dump.json') and not is_candidate('.app-2.dump.partial')
    assert not is_candidate('other.dump', 'app-*') and not is_candidate('')


def test_newest_and_previous():
    a = Entry('a.dump', '/b/a.dump', 100, 1000.0)
    b = Entry('b.dump', '/b/b.dump', 90, 2000.0)
    c = Entry('c.dump', '/b/c.dump', 80, 2000.0)  # same time as b: the name decides
    entries = [a, c, b]
    assert newest_first(entries) == [c, b, a]
    assert previous_of(entries, c) == b and previous_of(entries, b) == a and previous_of(entries, a) is None
    outside = Entry('z.dump', '/b/z.dump', 1, 1500.0)  # not in the list (another pattern)
    assert previous_of(entries, outside) == a


def test_size_drop_problem():
    previous = Entry('prev.dump', '/b/prev.dump', 1000, 1.0)
    assert size_drop_problem(400, previous, 0.5) == (
        '400 bytes is 60% smaller than the previous artefact prev.dump (1000 bytes); '
        'max_size_drop_ratio 0.5 allows at most 50%')
    assert size_drop_problem(500, previous, 0.5) is None
    assert size_drop_problem(5000, previous, 0.1) is None  # growth is never a problem
    assert size_drop_problem(1, previous, None) is None and size_drop_problem(1, None, 0.5) is None
    assert size_drop_problem(0, Entry('p', 'p', 0, 1.0), 0.5) is None


def test_compare_rows():
    expected = [{'schema': 'public', 'name': 'orders', 'rows': 3}, {'schema': 's', 'name': 'gone', 'rows': 1},
                {'schema': 'public', 'name': 'same', 'rows': 0}, {'schema': 'public', 'name': 'unknown', 'rows': None}]
    restored = {('public', 'orders'): 2, ('public', 'same'): 0, ('public', 'extra'): 9}
    mismatches, compared = compare_rows(expected, restored)
    assert compared == 3
    assert mismatches == ['public.orders has 2 rows restored, the manifest says 3',
                          's.gone is missing from the restore (manifest: 1 rows)']
