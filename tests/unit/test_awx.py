"""AWX as code (awx/maintenance.yml -> awx/import.json, awx/awx-collection.yml).

What can be checked without an AWX server: the generated files are in sync with the data; every
schedule's rrule parses with python-dateutil (what AWX uses) to the intended local times, across
daylight-saving changes, and starts inside the maintenance window; the import document has the
shape awxkit's `awx import` reads (its resource lists, natural keys, related objects), and goes
through awxkit's own importer against an in-memory stand-in for the API; surveys are valid;
survey answers reach the playbooks with the types they need; the playbooks named exist.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
# awxkit (requirements-test.txt) is the official AWX CLI; its importer is used without a server.
# (Its `awx` command itself needs pkg_resources, i.e. setuptools < 82 beside it.)
from awxkit.api import pages as awx_pages
from awxkit.api.pages import api as awx_api
from dateutil import rrule, tz

from ansible_collections.runbook.maintenance.plugins.module_utils import window as window_mod

REPO = Path(__file__).resolve().parents[2]
UTC = datetime.timezone.utc


def _load_render():
    spec = importlib.util.spec_from_file_location('awx_render', REPO / 'awx' / 'render.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render()
DATA = render.load()
DOC = json.loads((REPO / 'awx' / 'import.json').read_text(encoding='utf-8'))
ZONE = tz.gettz(DATA['timezone'])
SCHEDULES = {s['job_template']: s for s in DATA['schedules']}


def occurrences(schedule, start, end):
    """What AWX computes: dateutil's rrule set of the one-line rrule field."""
    rule = rrule.rrulestr(render.rrule_string(DATA, schedule), forceset=True)
    return rule.between(start, end, inc=True)


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


# ---- generated files -------------------------------------------------------------------------------

def test_generated_files_are_in_sync_with_the_data():
    for path, text in render.render(DATA).items():
        assert path.read_text(encoding='utf-8') == text, f'{path.name} is stale: run python awx/render.py'


def test_render_check_reports_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / 'import.json'
    stale.write_text('{}\n', encoding='utf-8')
    monkeypatch.setattr(render, 'IMPORT_JSON', stale)
    monkeypatch.setattr(render, 'COLLECTION_YML', tmp_path / 'awx-collection.yml')
    assert render.main(['--check']) == 1
    assert render.main([]) == 0 and render.main(['--check']) == 0


def test_collection_tasks_mirror_the_import_document():
    play = yaml.safe_load((REPO / 'awx' / 'awx-collection.yml').read_text(encoding='utf-8'))
    tasks = play[0]['tasks']
    jts = {t['awx.awx.job_template']['name']: t['awx.awx.job_template'] for t in tasks if 'awx.awx.job_template' in t}
    scheds = {t['awx.awx.schedule']['name']: t['awx.awx.schedule'] for t in tasks if 'awx.awx.schedule' in t}
    assert set(jts) == {jt['name'] for jt in DOC['job_templates']}
    for jt in DOC['job_templates']:
        task = jts[jt['name']]
        assert task['playbook'] == jt['playbook'] and task['timeout'] == jt['timeout']
        assert task['ask_job_type_on_launch'] is True
        assert task.get('survey_spec') == jt['related'].get('survey_spec')
        assert task['extra_vars'] == json.loads(jt['extra_vars'])
        for sched in jt['related']['schedules']:
            assert scheds[sched['name']]['rrule'] == sched['rrule']
            assert scheds[sched['name']]['unified_job_template'] == jt['name']
    assert all(k.startswith('awx.awx.') for t in tasks for k in t if k != 'name')


# ---- schedules -------------------------------------------------------------------------------------

def test_every_rrule_has_an_explicit_zone_and_what_awx_requires():
    for schedule in DATA['schedules']:
        text = render.rrule_string(DATA, schedule)
        assert text.startswith(f"DTSTART;TZID={DATA['timezone']}:")
        for part in re.findall(r'(?:RRULE|EXRULE):(\S+)', text):
            assert 'INTERVAL=' in part  # AWX refuses a rule without INTERVAL
            assert not re.search(r'BYDAY=[+-]?\d', part)  # and BYDAY with a numeric prefix (1SU)


def test_weekly_is_sunday_0200_local_across_both_dst_changes():
    got = occurrences(SCHEDULES['weekly'], utc(2026, 3, 1), utc(2026, 11, 30))
    assert got and all(o.tzinfo is not None for o in got)
    local = [o.astimezone(ZONE) for o in got]
    assert all(o.weekday() == 6 for o in local)
    by_day = {o.date(): o for o in local}
    as_utc = {d: o.astimezone(UTC) for d, o in by_day.items()}
    # Winter (CET, UTC+1): 02:00 local is 01:00 UTC.
    assert (by_day[datetime.date(2026, 3, 22)].hour, as_utc[datetime.date(2026, 3, 22)].hour) == (2, 1)
    # Spring-forward night: 02:00 does not exist; the run is at 03:00 CEST, when the window opens.
    assert by_day[datetime.date(2026, 3, 29)].hour == 3
    assert as_utc[datetime.date(2026, 3, 29)] == utc(2026, 3, 29, 1)
    assert tz.datetime_exists(by_day[datetime.date(2026, 3, 29)])
    # Summer (CEST, UTC+2): 02:00 local is 00:00 UTC: the local time held, the UTC time moved.
    assert (by_day[datetime.date(2026, 4, 19)].hour, as_utc[datetime.date(2026, 4, 19)].hour) == (2, 0)
    # Fall-back night: 02:00 happens twice; the first one (still summer time) is used.
    assert as_utc[datetime.date(2026, 10, 25)] == utc(2026, 10, 25, 0)
    assert (by_day[datetime.date(2026, 11, 8)].hour, as_utc[datetime.date(2026, 11, 8)].hour) == (2, 1)
    # Every other Sunday is 02:00 local.
    assert all(o.hour == 2 and o.minute == 0 for d, o in by_day.items() if d != datetime.date(2026, 3, 29))
    # The first Sunday is the monthly run's, the second Sunday of April the quarterly drill's.
    assert datetime.date(2026, 4, 5) not in by_day and datetime.date(2026, 4, 12) not in by_day


def awx_next_run(schedule, after):
    """AWX's Schedule.update_computed_fields: the next occurrence, stepping over one at a time
    that does not exist ("skip imaginary dates, like 2:30 on DST boundaries")."""
    rule = rrule.rrulestr(render.rrule_string(DATA, schedule), forceset=True, tzinfos={'UTC': tz.UTC})
    assert all(r._dtstart.tzinfo is not None for r in rule._rrule)  # AWX: "A valid TZID must be provided"
    nxt = rule.after(after)
    if not tz.datetime_exists(nxt):
        nxt = rule.after(nxt)
    return nxt.astimezone(UTC)


def test_without_the_gap_shift_awx_would_lose_the_spring_forward_run():
    plain = dict(SCHEDULES['weekly'], dst_gap=None)
    got = {o.date(): o for o in occurrences(plain, utc(2026, 3, 28), utc(2026, 3, 30))}
    night = got[datetime.date(2026, 3, 29)]
    assert not tz.datetime_exists(night)
    assert night.astimezone(UTC) == utc(2026, 3, 29, 0)  # dateutil alone: 01:00 CET, before the window
    # AWX steps over it: the next run would be three weeks later (first and second Sunday of April
    # belong to the monthly and quarterly runs).
    assert awx_next_run(plain, utc(2026, 3, 28)) == utc(2026, 4, 19, 0)
    # With the shift: 03:00 CEST that night.
    assert awx_next_run(SCHEDULES['weekly'], utc(2026, 3, 28)) == utc(2026, 3, 29, 1)


def test_monthly_quarterly_and_daily_backup():
    monthly = occurrences(SCHEDULES['monthly'], utc(2026, 1, 1), utc(2027, 12, 31))
    assert len(monthly) == 24
    assert all(o.weekday() == 6 and o.day <= 7 and (o.hour, o.minute) == (2, 0) for o in monthly)
    quarterly = occurrences(SCHEDULES['quarterly'], utc(2026, 1, 1), utc(2027, 12, 31))
    assert [(o.year, o.month) for o in quarterly] == [(y, m) for y in (2026, 2027) for m in (1, 4, 7, 10)]
    assert all(o.weekday() == 6 and 8 <= o.day <= 14 and o.hour == 2 for o in quarterly)
    daily = occurrences(SCHEDULES['backup'], utc(2026, 1, 1), utc(2026, 12, 31, 23, 59))
    assert len(daily) == 365 and all((o.hour, o.minute) == (1, 0) for o in daily)
    assert len({o.date() for o in daily}) == 365


def test_daily_health_check_pgbackrest_job_and_monthly_drills():
    health = occurrences(SCHEDULES['health-check'], utc(2026, 1, 1), utc(2026, 12, 31, 23, 59))
    assert len({o.date() for o in health}) == 365 and all((o.hour, o.minute) == (7, 0) for o in health)
    pgbackrest = occurrences(SCHEDULES['pgbackrest-backup'], utc(2026, 1, 1), utc(2026, 12, 31, 23, 59))
    assert len({o.date() for o in pgbackrest}) == 365 and all((o.hour, o.minute) == (5, 30) for o in pgbackrest)
    for key, hour in (('dr-drill', 6), ('dr-pitr-drill', 8)):
        drills = occurrences(SCHEDULES[key], utc(2026, 1, 1), utc(2027, 12, 31))
        assert [(o.year, o.month) for o in drills] == [(y, m) for y in (2026, 2027) for m in range(1, 13)]
        # the third Sunday, after its window (02:00-05:00)
        assert all(o.weekday() == 6 and 15 <= o.day <= 21 and (o.hour, o.minute) == (hour, 0) for o in drills)
    # the point-in-time drill and the pgBackRest jobs run on the hosts that have pgBackRest only
    for key in ('dr-pitr-drill', 'pgbackrest', 'pgbackrest-backup'):
        assert DATA['job_templates'][key]['limit'] == 'pgbackrest'


def test_incident_confirmations_default_to_the_safe_answer():
    by_playbook = {jt['playbook']: jt for jt in DOC['job_templates']}

    def questions(playbook):
        return {q['variable']: q for q in by_playbook[playbook]['related']['survey_spec']['spec']}

    safe = {
        'playbooks/dr-database-failure.yml': {'survey_dr_database_replace': 'false', 'survey_dr_database_pitr_confirm': 'false'},
        'playbooks/dr-data-corruption.yml': {'survey_pitr_confirm_swap': 'false'},
        'playbooks/dr-failover.yml': {'failover_action': 'check', 'survey_failover_force': 'false'},
        'playbooks/dr-complete-recovery.yml': {'survey_complete_recovery_confirm': 'false'},
        'playbooks/maintenance-rollback.yml': {'survey_maintenance_rollback_confirm_databases': 'false'},
        'playbooks/connection-issues.yml': {'survey_connection_issues_report_only': 'true'},
    }
    for playbook, defaults in safe.items():
        spec = questions(playbook)
        for variable, default in defaults.items():
            assert spec[variable]['type'] == 'multiplechoice' and spec[variable]['default'] == default, (playbook, variable)
    # what the on-call types: the target of a point-in-time restore, the databases to recover
    assert questions('playbooks/dr-data-corruption.yml')['pitr_target']['required'] is True
    assert questions('playbooks/dr-data-corruption.yml')['pitr_target_type']['choices'][0] == 'time'
    assert 'survey_dr_database_databases' in questions('playbooks/dr-database-failure.yml')
    # the recovery targets come from the inventory (dr_targets), never from a survey default
    for jt in DOC['job_templates']:
        for q in jt['related'].get('survey_spec', {}).get('spec', []):
            assert 'target_s' not in q['variable'], (jt['name'], q['variable'])


def test_each_sunday_gets_exactly_one_window_run_for_ten_years():
    start, end = utc(2026, 1, 1), utc(2035, 12, 31)
    runs = {}
    for key in ('weekly', 'monthly', 'quarterly'):
        for o in occurrences(SCHEDULES[key], start, end):
            runs.setdefault(o.astimezone(ZONE).date(), []).append(key)
    sundays = {d for d in (datetime.date(2026, 1, 4) + datetime.timedelta(weeks=i) for i in range(600))
               if datetime.datetime(d.year, d.month, d.day, tzinfo=UTC) <= end}
    assert set(runs) == sundays
    doubles = {d: keys for d, keys in runs.items() if len(keys) != 1}
    assert not doubles


def test_no_schedule_lands_on_a_time_that_does_not_exist_for_ten_years():
    for schedule in DATA['schedules']:
        for o in occurrences(schedule, utc(2026, 1, 1), utc(2035, 12, 31)):
            assert tz.datetime_exists(o), f"{schedule['name']}: {o} does not exist in {DATA['timezone']}"


def test_window_runs_start_inside_the_maintenance_window():
    window = window_mod.make_window(['sunday'], '02:00', '05:00', DATA['timezone'])
    for key, template in DATA['job_templates'].items():
        if not template.get('window') or key not in SCHEDULES:
            continue
        for o in occurrences(SCHEDULES[key], utc(2026, 1, 1), utc(2030, 12, 31)):
            state = window_mod.evaluate(window, o.astimezone(UTC))
            assert state['inside'], f'{key} at {o} ({o.astimezone(UTC)}): {state}'
            # the whole window is left (two hours on the spring-forward night: 03:00-05:00)
            assert state['remaining_s'] >= (2 if o.month == 3 and o.day >= 25 else 3) * 3600


# ---- the import document -----------------------------------------------------------------------------


NK_CLASSES = {
    'execution_environments': awx_pages.ExecutionEnvironment,
    'projects': awx_pages.Project,
    'inventory': awx_pages.Inventory,
    'inventory_sources': awx_pages.InventorySource,
    'job_templates': awx_pages.JobTemplate,
}


def test_top_level_keys_are_what_awx_import_reads():
    assert set(DOC) <= set(awx_api.EXPORTABLE_RESOURCES)
    assert set(DOC) == set(NK_CLASSES)


def test_natural_keys_follow_awxkit():
    for resource, assets in DOC.items():
        cls = NK_CLASSES[resource]
        for asset in assets:
            nk = asset['natural_key']
            assert set(nk) - {'type'} <= set(cls.NATURAL_KEY), (resource, nk)
            assert nk['name'] == asset['name'] and nk['type']
    for jt in DOC['job_templates']:
        for sched in jt['related']['schedules']:
            assert set(sched['natural_key']) - {'type'} == set(awx_pages.Schedule.NATURAL_KEY)
            assert sched['natural_key']['unified_job_template'] == jt['natural_key']
        for cred in jt['related']['credentials']:
            assert set(cred) - {'type'} <= set(awx_pages.Credential.NATURAL_KEY)
            assert set(cred['credential_type']) - {'type'} == set(awx_pages.CredentialType.NATURAL_KEY)


INCIDENTS = {'maintenance-rollback', 'dr-database-failure', 'dr-data-corruption', 'dr-failover', 'dr-complete-recovery',
             'connection-issues', 'service-breaker'}


def test_job_templates_cover_the_procedures():
    keys = set(DATA['job_templates'])
    assert keys == {'weekly', 'monthly', 'quarterly', 'backup', 'restore', 'dr-drill', 'dr-pitr-drill', 'disk-emergency',
                    'health-check', 'dr-service-failure', 'image-updates', 'pgbackrest', 'pgbackrest-backup'} | INCIDENTS
    for jt in DOC['job_templates']:
        assert jt['ask_job_type_on_launch'] is True  # check runs allowed
        assert 60 <= jt['timeout'] <= 4 * 3600
        assert jt['inventory']['type'] == 'inventory' and jt['project']['type'] == 'project'
    restore = next(jt for jt in DOC['job_templates'] if jt['playbook'] == 'playbooks/restore.yml')
    assert restore['job_type'] == 'check'  # destructive: a dry run unless "run" is chosen at launch


@pytest.mark.parametrize('key', sorted(DATA['job_templates']))
def test_playbooks_named_exist(key):
    playbook = DATA['job_templates'][key]['playbook']
    assert (REPO / playbook).is_file(), playbook
    assert isinstance(yaml.safe_load((REPO / playbook).read_text(encoding='utf-8')), list)


# ---- surveys -----------------------------------------------------------------------------------------

SURVEY_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}


@pytest.mark.parametrize('jt', DOC['job_templates'], ids=lambda jt: jt['name'])
def test_surveys_are_valid(jt):
    spec = jt['related'].get('survey_spec')
    assert jt['survey_enabled'] is bool(spec)
    if not spec:
        return
    assert spec['name'] and isinstance(spec['description'], str) and spec['spec']
    variables = [q['variable'] for q in spec['spec']]
    assert len(variables) == len(set(variables))
    extra = json.loads(jt['extra_vars'])
    for q in spec['spec']:
        assert q['type'] in SURVEY_TYPES
        assert re.fullmatch(r'[a-z_][a-z0-9_]*', q['variable'])
        assert q['question_name'] and isinstance(q['required'], bool)
        if q['type'] == 'integer':
            assert isinstance(q['default'], int) and q['min'] <= q['default'] <= q['max']
        elif q['type'] == 'multiplechoice':
            assert isinstance(q['choices'], list) and q['default'] in q['choices']
        else:
            assert isinstance(q['default'], str) and q['min'] <= len(q['default']) <= q['max'] or q['required']
        if q['variable'].startswith('survey_'):  # converted by the template's extra_vars
            target = q['variable'][len('survey_'):]
            assert q['variable'] in extra[target]


def test_survey_answers_reach_the_playbook_with_the_right_types(tmp_path):
    """AWX hands extra_vars and (unsafe) survey answers to ansible-playbook as one file."""
    weekly = next(jt for jt in DOC['job_templates'] if jt['playbook'] == 'playbooks/maintenance-weekly.yml')
    fixed = json.loads(weekly['extra_vars'])
    playbook = tmp_path / 'probe.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'probe', 'hosts': 'localhost', 'gather_facts': False,
        'tasks': [{'name': 'types', 'ansible.builtin.assert': {'that': [
            'pg_maintenance_databases == expected_databases',
            'maintenance_force is boolean',
            'maintenance_force == expected_force',
        ]}}],
    }]), encoding='utf-8')
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    bindir = Path(sys.executable).parent
    for answers, databases, force in (
        ({'survey_pg_maintenance_databases': ' shop, crm ,', 'survey_maintenance_force': 'true'}, ['shop', 'crm'], True),
        ({'survey_pg_maintenance_databases': '', 'survey_maintenance_force': 'false'}, [], False),
    ):
        extravars = tmp_path / 'extravars'
        # ansible-runner writes prompted answers with !unsafe, as AWX does
        lines = [f'{k}: {json.dumps(v)}' for k, v in fixed.items()]
        lines += [f'{k}: !unsafe {json.dumps(v)}' for k, v in answers.items()]
        lines += [f'expected_databases: {json.dumps(databases)}', f'expected_force: {json.dumps(force)}']
        extravars.write_text('\n'.join(lines) + '\n', encoding='utf-8')
        run = subprocess.run([str(bindir / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                              '-e', f'@{extravars}', str(playbook)],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
        assert run.returncode == 0, run.stdout + run.stderr


# ---- through awxkit's importer -------------------------------------------------------------------------

class FakeAWX:
    """Just enough of /api/v2/ for awxkit's ApiV2.import_assets: OPTIONS (POST fields), list GETs
    with filters, POST (create), PUT, related lists (credentials, schedules, survey_spec)."""

    LISTS = {
        'organizations': 'organization', 'execution_environments': 'execution_environment',
        'projects': 'project', 'inventories': 'inventory', 'inventory_sources': 'inventory_source',
        'job_templates': 'job_template', 'credentials': 'credential', 'credential_types': 'credential_type',
        'schedules': 'schedule', 'users': 'user', 'teams': 'team', 'notification_templates': 'notification_template',
        'workflow_job_templates': 'workflow_job_template', 'applications': 'o_auth2_application', 'labels': 'label',
    }
    ROOT = ('organizations', 'users', 'teams', 'execution_environments', 'projects', 'credentials',
            'credential_types', 'credential_input_sources', 'applications', 'inventory_sources', 'groups',
            'hosts', 'job_templates', 'system_job_templates', 'schedules', 'roles', 'notification_templates',
            'labels', 'instance_groups', 'workflow_job_templates', 'workflow_job_template_nodes')
    FK = {  # foreign keys each type stores (natural keys resolve through these related links)
        'execution_environment': ['organization', 'credential'],
        'project': ['organization', 'default_environment'],
        'inventory': ['organization'],
        'inventory_source': ['inventory', 'source_project', 'execution_environment'],
        'job_template': ['organization', 'inventory', 'project', 'execution_environment'],
        'credential': ['organization', 'credential_type'],
        'schedule': ['unified_job_template', 'inventory'],
    }
    # POST fields per list, as AWX's OPTIONS lists them (types matter: id fields take natural keys).
    FIELDS = {
        'execution_environment': {'name': 'string', 'description': 'string', 'organization': 'id', 'image': 'string',
                                  'credential': 'id', 'pull': 'choice'},
        'project': {'name': 'string', 'description': 'string', 'organization': 'id', 'scm_type': 'choice',
                    'scm_url': 'string', 'scm_branch': 'string', 'scm_clean': 'boolean',
                    'scm_delete_on_update': 'boolean', 'scm_update_on_launch': 'boolean',
                    'scm_update_cache_timeout': 'integer', 'allow_override': 'boolean', 'timeout': 'integer',
                    'default_environment': 'id'},
        'inventory': {'name': 'string', 'description': 'string', 'organization': 'id', 'kind': 'choice',
                      'variables': 'json', 'prevent_instance_group_fallback': 'boolean'},
        'inventory_source': {'name': 'string', 'description': 'string', 'inventory': 'id', 'source': 'choice',
                             'source_project': 'id', 'source_path': 'string', 'overwrite': 'boolean',
                             'overwrite_vars': 'boolean', 'update_on_launch': 'boolean',
                             'update_cache_timeout': 'integer', 'execution_environment': 'id'},
        'job_template': {k: 'string' for k in (
            'name', 'description', 'playbook', 'scm_branch', 'limit', 'job_tags', 'skip_tags', 'start_at_task',
            'host_config_key', 'webhook_service')} | {k: 'integer' for k in (
                'forks', 'verbosity', 'timeout', 'job_slice_count')} | {k: 'boolean' for k in (
                    'force_handlers', 'use_fact_cache', 'ask_scm_branch_on_launch', 'ask_diff_mode_on_launch',
                    'ask_variables_on_launch', 'ask_limit_on_launch', 'ask_tags_on_launch',
                    'ask_skip_tags_on_launch', 'ask_job_type_on_launch', 'ask_verbosity_on_launch',
                    'ask_inventory_on_launch', 'ask_credential_on_launch', 'survey_enabled', 'become_enabled',
                    'diff_mode', 'allow_simultaneous', 'prevent_instance_group_fallback')} | {
            'job_type': 'choice', 'extra_vars': 'json', 'inventory': 'id', 'project': 'id',
            'execution_environment': 'id'},
        'schedule': {'name': 'string', 'description': 'string', 'rrule': 'string', 'enabled': 'boolean',
                     'extra_data': 'json', 'inventory': 'id'},
    }

    def __init__(self):
        self.objects = {}  # url -> json
        self.next_id = 1
        self.posts = []  # (url, payload)
        self.attached = {}  # related list url -> [ids]
        self.surveys = {}  # job template url -> survey spec
        self.add('organization', {'name': 'Default'})
        machine = self.add('credential_type', {'name': 'Machine', 'kind': 'ssh'})
        self.add('credential', {'name': 'runbook-maintenance ssh', 'organization': 1, 'credential_type': machine['id']})

    # -- storage
    def url_of(self, type_, id_):
        plural = next(k for k, v in self.LISTS.items() if v == type_)
        return f'/api/v2/{plural}/{id_}/'

    def add(self, type_, fields):
        id_ = self.next_id
        self.next_id += 1
        url = self.url_of(type_, id_)
        obj = {'id': id_, 'type': type_, 'url': url}
        obj.update(fields)
        related = {}
        for fk in self.FK.get(type_, []):
            if obj.get(fk):
                target = next(u for u, o in self.objects.items() if o['id'] == obj[fk])
                related[fk] = target
        if type_ == 'project':  # the importer waits for the first project update
            obj.setdefault('status', 'successful')
        if type_ == 'job_template':
            related.update(schedules=f'{url}schedules/', credentials=f'{url}credentials/',
                           survey_spec=f'{url}survey_spec/')
        obj['related'] = related
        self.objects[url] = obj
        return obj

    # -- HTTP
    def response(self, method, url, status, body=None, allow='GET, POST, PUT'):
        import requests  # awxkit depends on it

        resp = requests.models.Response()
        resp.status_code = status
        resp._content = json.dumps(body).encode() if body is not None else b''
        resp.encoding = 'utf-8'
        resp.headers['Allow'] = allow
        req = requests.models.PreparedRequest()
        req.prepare(method=method.upper(), url=f'http://awx.invalid{url}')
        resp.request = req
        resp.elapsed = datetime.timedelta(0)
        return resp

    def list_type(self, url):
        parts = [p for p in url.split('/') if p]
        if len(parts) == 3 and parts[2] in self.LISTS:
            return self.LISTS[parts[2]], None
        if len(parts) == 5 and parts[4] in ('schedules', 'credentials'):
            return ('schedule' if parts[4] == 'schedules' else 'credential'), f'/api/v2/{parts[2]}/{parts[3]}/'
        return None, None

    def get(self, url, query_parameters=None, **_kw):
        url = url.split('?')[0]
        if url == '/api/v2/':
            root = {name: f'/api/v2/{name}/' for name in self.ROOT}
            root['inventory'] = '/api/v2/inventories/'
            return self.response('get', url, 200, root)
        if url in self.objects:
            return self.response('get', url, 200, self.objects[url])
        if url.endswith('/survey_spec/'):
            return self.response('get', url, 200, self.surveys.get(url[:-len('survey_spec/')], {}))
        type_, parent = self.list_type(url)
        assert type_, f'unexpected GET {url}'
        found = [o for o in self.objects.values() if o['type'] == type_]
        if parent and type_ == 'credential':
            found = [o for o in found if o['id'] in self.attached.get(url, [])]
        elif parent:
            found = [o for o in found if o.get('unified_job_template') == self.objects[parent]['id']]
        for key, value in (query_parameters or {}).items():
            found = [o for o in found if str(o.get(key)) == str(value)]
        return self.response('get', url, 200, {'count': len(found), 'next': None, 'previous': None, 'results': found})

    def options(self, url, **_kw):
        type_, parent = self.list_type(url.split('?')[0])
        fields = {'id': {'type': 'integer'}} if (parent and type_ == 'credential') else {}
        fields.update({k: {'type': v} for k, v in self.FIELDS.get(type_, {'name': 'string'}).items()})
        body = {'actions': {'POST': fields}, 'search_fields': ['name'], 'description': ''}
        return self.response('options', url, 200, body)

    def post(self, url, json=None, **_kw):  # noqa: A002 - the connection's signature
        self.posts.append((url, json))
        if url.endswith('/survey_spec/'):
            self.surveys[url[:-len('survey_spec/')]] = json
            return self.response('post', url, 200, {})
        type_, parent = self.list_type(url)
        assert type_, f'unexpected POST {url}'
        if parent and type_ == 'credential':
            self.attached.setdefault(url, []).append(json['id'])
            return self.response('post', url, 204)
        for field, kind in self.FIELDS[type_].items():
            if kind == 'id':
                assert json.get(field) is None or isinstance(json[field], int), (url, field, json.get(field))
        fields = dict(json)
        if parent:
            fields['unified_job_template'] = self.objects[parent]['id']
        if type_ == 'job_template':
            fields['organization'] = self.objects[self.url_of('project', fields['project'])]['organization']
        return self.response('post', url, 201, self.add(type_, fields))

    def put(self, url, json=None, **_kw):  # noqa: A002
        self.posts.append((url, json))
        self.objects[url].update(json)
        return self.response('put', url, 200, self.objects[url])

    def patch(self, url, json=None, **kw):  # noqa: A002
        return self.put(url, json, **kw)


def import_into(fake, document):
    from awxkit.api.pages.page import TentativePage

    api = TentativePage('/api/v2/', fake).get()
    assert isinstance(api, awx_api.ApiV2)
    api._has_error = False
    changed = api.import_assets(document)
    return api, changed


def test_awxkit_imports_the_document(caplog):
    fake = FakeAWX()
    api, changed = import_into(fake, json.loads(json.dumps(DOC)))
    assert changed and not api._has_error, caplog.text
    objs = list(fake.objects.values())
    by = {}
    for o in objs:
        by.setdefault(o['type'], []).append(o)
    assert len(by['job_template']) == len(DATA['job_templates'])
    project = by['project'][0]
    inventory = by['inventory'][0]
    ee = by['execution_environment'][0]
    assert project['scm_url'] == DATA['project']['scm_url'] and project['default_environment'] == ee['id']
    assert by['inventory_source'][0]['source_project'] == project['id']
    for jt in by['job_template']:
        assert (jt['project'], jt['inventory'], jt['execution_environment']) == (project['id'], inventory['id'], ee['id'])
        data_jt = next(t for t in DATA['job_templates'].values() if t['name'] == jt['name'])
        assert jt['playbook'] == data_jt['playbook'] and jt['timeout'] == data_jt['timeout']
        assert jt['ask_job_type_on_launch'] is True
        machine = next(o['id'] for o in objs if o['type'] == 'credential')
        assert fake.attached[jt['related']['credentials']] == [machine]  # found by its natural key
        survey = fake.surveys.get(jt['url'])
        assert bool(survey) is bool(data_jt.get('questions'))
        if survey:
            assert [q['variable'] for q in survey['spec']]
    schedules = {s['name']: s for s in by['schedule']}
    assert set(schedules) == {s['name'] for s in DATA['schedules']}
    weekly_jt = next(jt for jt in by['job_template'] if jt['playbook'] == 'playbooks/maintenance-weekly.yml')
    weekly = schedules[SCHEDULES['weekly']['name']]
    assert weekly['unified_job_template'] == weekly_jt['id']
    assert weekly['rrule'] == render.rrule_string(DATA, SCHEDULES['weekly'])


def test_a_second_import_updates_in_place(caplog):
    fake = FakeAWX()
    import_into(fake, json.loads(json.dumps(DOC)))
    count = len(fake.objects)
    api, _changed = import_into(fake, json.loads(json.dumps(DOC)))
    assert not api._has_error, caplog.text
    assert len(fake.objects) == count  # found by natural key, nothing duplicated


def test_a_missing_credential_is_reported_by_the_importer(caplog):
    fake = FakeAWX()
    fake.objects = {u: o for u, o in fake.objects.items() if o['type'] != 'credential'}
    api, _changed = import_into(fake, json.loads(json.dumps(DOC)))
    assert api._has_error


# ---- job slicing -------------------------------------------------------------------------------------

SLICED = {'weekly', 'monthly', 'backup'}


def test_window_templates_slice_and_incident_ones_do_not():
    by_name = {jt['name']: jt for jt in DOC['job_templates']}
    for key, template in DATA['job_templates'].items():
        jt = by_name[template['name']]
        if key in SLICED:
            assert jt['job_slice_count'] > 1, key
        else:
            assert jt['job_slice_count'] == 1, key
        if 'INCIDENT' in template['name'] or key in ('dr-failover', 'restore', 'dr-pitr-drill'):
            assert jt['job_slice_count'] == 1, f'{key} acts on the host(s) it is launched on: never sliced'
    play = yaml.safe_load((REPO / 'awx' / 'awx-collection.yml').read_text(encoding='utf-8'))
    tasks = {t['awx.awx.job_template']['name']: t['awx.awx.job_template'] for t in play[0]['tasks'] if 'awx.awx.job_template' in t}
    assert all(tasks[name]['job_slice_count'] == jt['job_slice_count'] for name, jt in by_name.items())


def test_sliced_window_templates_name_the_run_and_the_slice():
    for jt in DOC['job_templates']:
        fixed = json.loads(jt['extra_vars'])
        window = jt['playbook'] in ('playbooks/maintenance-weekly.yml', 'playbooks/maintenance-monthly.yml')
        assert ('maintenance_run_slice' in fixed) is (window and jt['job_slice_count'] > 1), jt['name']
        if 'maintenance_run_slice' in fixed:
            assert fixed['maintenance_run_slices'] == jt['job_slice_count']


def test_the_slice_vars_as_ansible_templates_them(tmp_path):
    """AWX's meta vars of a slice job (awx_job_id, awx_workflow_job_id of the sliced run) and of a
    single job (no workflow) give the run and slice ids the window's plan task reads."""
    weekly = next(jt for jt in DOC['job_templates'] if jt['playbook'] == 'playbooks/maintenance-weekly.yml')
    fixed = {k: v for k, v in json.loads(weekly['extra_vars']).items() if k.startswith('maintenance_run')}
    playbook = tmp_path / 'probe.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'probe', 'hosts': 'localhost', 'gather_facts': False,
        'tasks': [{'name': 'ids', 'ansible.builtin.assert': {'that': [
            'maintenance_run_id == expected_run', 'maintenance_run_slice == expected_slice',
            'maintenance_run_slices | int == 2']}}],
    }]), encoding='utf-8')
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    for meta, run_id, slice_id in (({'awx_job_id': 4713, 'awx_workflow_job_id': 4711}, 'awx-4711', 'job-4713'),
                                   ({'awx_job_id': 4720}, 'awx-4720', 'job-4720')):
        extravars = tmp_path / 'extravars'
        lines = [f'{k}: {json.dumps(v)}' for k, v in {**fixed, **meta}.items()]
        lines += [f'expected_run: {run_id}', f'expected_slice: {slice_id}']
        extravars.write_text('\n'.join(lines) + '\n', encoding='utf-8')
        run = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                              '-e', f'@{extravars}', str(playbook)],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
        assert run.returncode == 0, run.stdout + run.stderr


def test_awxkit_imports_the_slice_count(caplog):
    fake = FakeAWX()
    api, _changed = import_into(fake, json.loads(json.dumps(DOC)))
    assert not api._has_error, caplog.text
    created = {o['name']: o for o in fake.objects.values() if o['type'] == 'job_template'}
    for key, template in DATA['job_templates'].items():
        assert created[template['name']]['job_slice_count'] == (2 if key in SLICED else 1), key
