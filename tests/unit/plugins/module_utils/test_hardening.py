"""Pure functions of the runtime hardening (issue 17): option bounds, redaction, corrupt state."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.breaker import Breaker, StateError, Store, decode_state
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import MAX_SIZE_BYTES, check_size, parse_size
from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import read_json
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import connection_option_errors
from ansible_collections.runbook.maintenance.plugins.module_utils.redact import MASK, redact, url_origin
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import work_lock_key
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import (
    MAX_DURATION_S,
    check_duration,
    check_pg_timeout,
    duration_errors,
    parse_duration,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import clean_history

ABSURD = ['abc', '1e400', 'inf', 'nan', '-1s', '-5', '9' * 400, float('inf'), float('nan'), -1, True]


# ---- durations -----------------------------------------------------------------------------------
@pytest.mark.parametrize('value', ABSURD)
def test_check_duration_refuses_absurd_values_naming_the_option(value):
    with pytest.raises(ValueError, match='^lock_timeout'):
        check_duration('lock_timeout', value)


@pytest.mark.parametrize('value', ['0', '0s', 0, 0.0])
def test_zero_is_no_bound_and_refused_unless_allowed(value):
    with pytest.raises(ValueError, match='must be positive'):
        check_duration('statement_timeout', value)
    assert check_duration('age', value, allow_zero=True) == 0


def test_the_maximum_is_a_hundred_years():
    assert check_duration('x', f'{36500}d') == MAX_DURATION_S
    with pytest.raises(ValueError, match='beyond the sane maximum of 100 years'):
        check_duration('x', '36501d')


@pytest.mark.parametrize('value, expected', [('5s', '5000ms'), ('1ms', '1ms'), ('2min', '120000ms'), (3, '3000ms')])
def test_pg_timeout_in_milliseconds(value, expected):
    assert check_pg_timeout('lock_timeout', value) == expected


@pytest.mark.parametrize('value', ['0.1ms', '0', '25d', '-1'])
def test_pg_timeout_refuses_what_postgres_reads_as_none_or_rejects(value):
    with pytest.raises(ValueError, match='lock_timeout'):
        check_pg_timeout('lock_timeout', value)


def test_pg_timeout_bare_number_can_mean_milliseconds():
    assert check_pg_timeout('lock_timeout', '250', default_unit='ms') == '250ms'


def test_duration_errors_collects_every_problem_and_skips_unset():
    errors = duration_errors({'a': '0', 'b': 'soon', 'c': None, 'd': '', 'e': '5s'},
                             {'a': {}, 'b': {}, 'c': {}, 'd': {}, 'e': {}})
    assert len(errors) == 2 and errors[0].startswith('a ') and errors[1].startswith('b:')


def test_parse_duration_rejects_non_finite_numbers():
    for value in (float('inf'), float('nan'), '1' + '0' * 400):
        with pytest.raises(ValueError):
            parse_duration(value)


# ---- sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize('value', ['abc', '1e400', 'inf', 'nan', '-1', '-5M', '9' * 400, float('inf'),
                                   float('nan'), -1, '2000000T', 2 ** 61])
def test_check_size_refuses_absurd_values_naming_the_option(value):
    with pytest.raises(ValueError, match='^min_size'):
        check_size('min_size', value)


def test_size_zero_only_where_allowed_and_the_maximum():
    assert check_size('min_size', '0') == 0
    with pytest.raises(ValueError, match='target_free_bytes must be positive'):
        check_size('target_free_bytes', 0, allow_zero=False)
    assert parse_size(MAX_SIZE_BYTES) == MAX_SIZE_BYTES
    assert check_size('x', '1.5G') == int(1.5 * 1024 ** 3)


def test_connect_timeout_is_a_bound():
    assert connection_option_errors({'connect_timeout': 10}) == []
    assert connection_option_errors({}) == []
    for value in (0, -1, 10 ** 6):
        assert 'connect_timeout' in connection_option_errors({'connect_timeout': value})[0]


# ---- redaction ---------------------------------------------------------------------------------
@pytest.mark.parametrize('url, origin', [
    ('https://hooks.example/T0/B0/XXXXSECRET', 'https://hooks.example'),
    ('http://user:pa55word@127.0.0.1:8080/cb?token=abcd#frag', 'http://127.0.0.1:8080'),
    ('HTTPS://Api.Example:443/x', 'https://api.example:443'),
    ('http://[::1]:9/x', 'http://[::1]:9'),
    ('not a url', '<unparsable URL>'), ('', '<unparsable URL>'), (None, '<unparsable URL>'),
    ('http://host:99999/', '<unparsable URL>'),
])
def test_url_origin_keeps_scheme_and_host_only(url, origin):
    assert url_origin(url) == origin


def test_redact_removes_every_secret_part_of_a_url():
    url = 'https://bot:pa55word@hooks.example/services/T0/SECRETPATH?token=t0k3nvalue'
    text = f'POST {url} failed; token t0k3nvalue, path /services/T0/SECRETPATH, pw pa55word, bearer abcdefgh'
    out = redact(text, [url, 'abcdefgh'])
    for secret in ('pa55word', 'SECRETPATH', 't0k3nvalue', 'abcdefgh'):
        assert secret not in out
    assert MASK in out and 'failed' in out


# ---- breaker state -----------------------------------------------------------------------------
@pytest.mark.parametrize('raw', [
    b'\xff\xfe', b'1e400', b'{"state": "closed", "failures": 1e400}', b'{"state": "open", "opened_at": 1e400}',
    b'{"state": "open", "fail', b'', b'[]', b'"closed"', b'{"state": "closed", "failures": "3"}',
    b'{"state": "closed", "failures": -1}', b'{"state": "closed", "failures": NaN}',
    b'{"state": "open", "opened_at": Infinity}', b'{"state": "closed", "failures": true}',
    b'{"state": "closed", "reason": 5}', b'{"state": "closed", "forced": "no"}', b'{"state": "ajar"}',
    b'[' * 100000 + b']' * 100000, b'{"state": "closed", "failures": ' + b'9' * 5000 + b'}',
])
def test_decode_state_refuses_anything_malformed(raw):
    with pytest.raises(StateError):
        decode_state(raw, '/x/b.json')


def test_decode_state_reads_a_good_state():
    breaker = decode_state(json.dumps({'state': 'open', 'failures': 3, 'opened_at': 1000.5, 'reason': 'r',
                                       'forced': False, 'successes': 0, 'updated_at': None}).encode(), 'p')
    assert breaker == Breaker(state='open', failures=3, opened_at=1000.5, reason='r')


def test_store_never_follows_a_symlink_and_refuses_a_large_file(tmp_path):
    (tmp_path / 'elsewhere.json').write_text('{"state": "closed"}')
    (tmp_path / 'b.json').symlink_to(tmp_path / 'elsewhere.json')
    store = Store(str(tmp_path), 'b')
    with pytest.raises(StateError, match='symlink'):
        store.read()
    aside = store.set_aside(0)
    assert os.path.islink(aside) and not os.path.lexists(store.path)
    (tmp_path / 'b.json').write_text(' ' * 70000 + '{"state": "closed"}')
    with pytest.raises(StateError, match='bytes'):
        store.read()


def test_store_recovers_a_planted_lock_only_when_asked(tmp_path):
    (tmp_path / 'b.lock').symlink_to(tmp_path / 'victim')
    with pytest.raises(StateError, match='symlink'):
        with Store(str(tmp_path), 'b'):
            pass
    with Store(str(tmp_path), 'b', recover=True) as store:
        store.write(Breaker())
    assert not (tmp_path / 'victim').exists()
    assert oct(os.stat(tmp_path / 'b.json').st_mode & 0o777) == '0o600'


# ---- other state files -------------------------------------------------------------------------
@pytest.mark.parametrize('raw, words', [(b'\xff', 'UTF-8'), (b'{"a": NaN}', 'not valid JSON'), (b'[1e400]', 'beyond'),
                                        (b'{', 'not valid JSON'), (b'[' * 100000, 'not valid JSON|nested')])
def test_read_json_refuses_corrupt_files(tmp_path, raw, words):
    path = tmp_path / 'state.json'
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=words):
        read_json(str(path))


def test_read_json_refuses_symlinks_directories_and_large_files(tmp_path):
    (tmp_path / 'target.json').write_text('{}')
    (tmp_path / 'link.json').symlink_to(tmp_path / 'target.json')
    with pytest.raises(ValueError, match='symlink'):
        read_json(str(tmp_path / 'link.json'))
    (tmp_path / 'dir.json').mkdir()
    with pytest.raises((ValueError, OSError)):
        read_json(str(tmp_path / 'dir.json'))
    (tmp_path / 'big.json').write_text('[' + '0,' * 100 + '0]')
    with pytest.raises(ValueError, match='more than'):
        read_json(str(tmp_path / 'big.json'), max_bytes=50)
    assert read_json(str(tmp_path / 'target.json')) == {}


def test_clean_history_keeps_only_sane_entries():
    good = {'duration_s': 1.5, 'bytes': 1000, 'at': 'x'}
    kept, dropped = clean_history({'a': good, 'b': 'x', 'c': {'duration_s': 'abc', 'bytes': 5},
                                   'd': {'duration_s': float('nan'), 'bytes': 5}, 'e': {'duration_s': 1, 'bytes': 0},
                                   'f': {'duration_s': -1, 'bytes': 5}, 'g': [1, 2]})
    assert kept == {'a': good} and dropped == 6
    assert clean_history([1, 2]) == ({}, 1)


def test_work_lock_key_is_a_stable_signed_bigint():
    key = work_lock_key('shop__restore_20261129_020000')
    assert key == work_lock_key('shop__restore_20261129_020000') and -2 ** 63 <= key < 2 ** 63
    assert key != work_lock_key('shop__restore_20261129_020001')
