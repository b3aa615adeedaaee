"""playbooks/fleet-merge.yml: the slices' fleet summaries of one run, read from a report directory,
written and printed as one (real ansible-playbook on localhost, files made by the fleet_summary filter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ansible_collections.runbook.maintenance.plugins.filter.fleet import fleet_summary

REPO = Path(__file__).resolve().parents[2]
FLEET = [f'db-{i:02d}' for i in range(1, 7)]


def write_slice(report_dir, number, count, failures=None, run='awx-4711'):
    hosts = FLEET[number - 1::count]
    failures = failures or {}
    summary = fleet_summary(hosts, {h: failures.get(h, '') for h in hosts}, procedure='weekly',
                            plan={'run': run, 'slice': f'job-{4711 + number}', 'slices': count, 'msg': 'batches of 1'})
    (report_dir / f'fleet-weekly-{run}-job-{4711 + number}.json').write_text(json.dumps(summary), encoding='utf-8')


def merge(report_dir, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,',
                           str(REPO / 'playbooks' / 'fleet-merge.yml'), '-e', f'maintenance_report_dir={report_dir}',
                           '-e', 'fleet_merge_run=awx-4711', *extra],
                          capture_output=True, text=True, env=env, timeout=180, check=False, cwd=REPO)


def test_the_slices_of_a_run_become_one_summary(tmp_path):
    write_slice(tmp_path, 1, 2)
    write_slice(tmp_path, 2, 2)
    write_slice(tmp_path, 1, 2, run='awx-4800')  # another run, left alone
    run = merge(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    merged = json.loads((tmp_path / 'fleet-weekly-awx-4711.json').read_text(encoding='utf-8'))
    assert merged['status'] == 'ok' and sorted(merged['done']) == FLEET and merged['slices']['reported'] == 2
    text = (tmp_path / 'fleet-weekly-awx-4711.txt').read_text(encoding='utf-8')
    assert text.startswith('Fleet weekly run awx-4711, 2 of 2 slices: 6 done, 0 failed, 0 not started, of 6')
    assert 'Fleet weekly run awx-4711, 2 of 2 slices' in run.stdout


def test_a_failed_host_or_a_missing_slice_exits_non_zero(tmp_path):
    write_slice(tmp_path, 1, 3, failures={'db-04': 'Backup: verification failed'})
    write_slice(tmp_path, 2, 3)
    run = merge(tmp_path)
    assert run.returncode != 0
    merged = json.loads((tmp_path / 'fleet-weekly-awx-4711.json').read_text(encoding='utf-8'))
    assert merged['status'] == 'failed' and merged['failed'][0]['host'] == 'db-04'
    assert '1 of 3 slices did not report: their hosts are not in this summary' in merged['errors']


def test_check_mode_writes_nothing_and_no_slices_is_a_clear_failure(tmp_path):
    write_slice(tmp_path, 1, 1)
    run = merge(tmp_path, '--check')
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (tmp_path / 'fleet-weekly-awx-4711.json').exists()
    empty = tmp_path / 'empty'
    empty.mkdir()
    run = merge(empty)
    assert run.returncode != 0 and 'No fleet-weekly-awx-4711-*.json in' in run.stdout
