"""Render AWX as code from awx/maintenance.yml.

Writes, next to this script:
  import.json           the document `awx import < awx/import.json` loads (awxkit's import format:
                        one list per resource, objects with a natural_key, foreign keys as natural
                        keys, a job template's survey_spec, credentials and schedules under related)
  awx-collection.yml    the same objects as awx.awx.* tasks, for teams that have that collection

Usage: python awx/render.py [--check]   (--check: exit 1 when the committed files are stale)
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DATA = HERE / 'maintenance.yml'
IMPORT_JSON = HERE / 'import.json'
COLLECTION_YML = HERE / 'awx-collection.yml'

SURVEY_TYPES = {'bool': 'multiplechoice', 'list': 'text', 'text': 'text', 'int': 'integer', 'choice': 'multiplechoice'}
TEXT_MAX = 1024


def load(path=DATA):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def ts(value):
    """'2026-01-04T02:00:00' -> '20260104T020000' (RFC 5545 local date-time)."""
    return value.replace('-', '').replace(':', '')


def rrule_string(data, schedule):
    """AWX's rrule field: DTSTART with an explicit zone, the RRULE, optional EXRULEs, one line."""
    rrules, exrules = [schedule['rrule']], list(schedule.get('exrules', []))
    if schedule.get('dst_gap') == 'shift':  # the lost hour of the spring-forward night -> the next one
        gap = data['timezone_gap']
        exrules.append(f"{gap['rule']};BYHOUR={gap['skipped_hour']};BYMINUTE=0;BYSECOND=0")
        rrules.append(f"{gap['rule']};BYHOUR={gap['resumes_hour']};BYMINUTE=0;BYSECOND=0")
    parts = [f"DTSTART;TZID={data['timezone']}:{ts(schedule['dtstart'])}"]
    parts += [f'RRULE:{rule}' for rule in rrules] + [f'EXRULE:{rule}' for rule in exrules]
    return ' '.join(parts)


# ---- survey ------------------------------------------------------------------------------------

def question_variable(name, q):
    """(survey variable, playbook variable): bool and list answers need a conversion."""
    target = q.get('variable', name)
    if q['kind'] in ('bool', 'list'):
        return f'survey_{target}', target
    return target, target


def survey_question(name, q):
    survey_var, _target = question_variable(name, q)
    item = {
        'question_name': q['question'],
        'question_description': q.get('description', ''),
        'required': bool(q.get('required', q['kind'] in ('bool', 'choice', 'int'))),
        'type': SURVEY_TYPES[q['kind']],
        'variable': survey_var,
        'new_question': False,
    }
    if q['kind'] == 'bool':
        item.update(choices=['false', 'true'], default='true' if q['default'] else 'false')
    elif q['kind'] == 'choice':
        item.update(choices=list(q['choices']), default=q['default'])
    elif q['kind'] == 'int':
        item.update(min=q['min'], max=q['max'], default=q['default'])
    else:
        item.update(min=1 if item['required'] else 0, max=TEXT_MAX, default=q.get('default', ''))
    return item


def survey_spec(data, template):
    questions = template.get('questions', [])
    return {
        'name': template['name'],
        'description': f"Common variables of {template['playbook']}",
        'spec': [survey_question(n, data['questions'][n]) for n in questions],
    }


def conversion_vars(data, template):
    """Fixed extra_vars that turn survey answers into what the playbooks read."""
    out = {}
    for name in template.get('questions', []):
        q = data['questions'][name]
        survey_var, target = question_variable(name, q)
        if q['kind'] == 'bool':
            default = 'true' if q['default'] else 'false'
            out[target] = f"{{{{ survey_{target} | default('{default}', true) | bool }}}}"
        elif q['kind'] == 'list':
            # default(..., true): ansible-core reads an empty `!unsafe ""` answer back as None
            out[target] = (f"{{{{ survey_{target} | default('', true) | split(',') | map('trim') "
                           "| select | list }}")
    return out


def slice_vars(data, template):
    """A sliced window template tells each slice job which run and slice it is: AWX passes no slice
    number to the playbook, but awx_workflow_job_id is the workflow job of the sliced run (the same
    for every slice; absent when AWX runs a single job: one host, or one slice) and awx_job_id the
    slice's own job."""
    count = template_settings(data, template)['job_slice_count']
    if not template.get('window') or count < 2:
        return {}
    return {
        'maintenance_run_id': "awx-{{ awx_workflow_job_id | default(awx_job_id) }}",
        'maintenance_run_slice': "job-{{ awx_job_id }}",
        'maintenance_run_slices': count,
    }


def extra_vars(data, template):
    merged = dict(template.get('extra_vars') or {})
    if template.get('window'):
        merged['maintenance_window_timezone'] = data['timezone']
    merged.update(slice_vars(data, template))
    merged.update(conversion_vars(data, template))
    return merged


# ---- natural keys ------------------------------------------------------------------------------

def nk_org(data):
    return {'name': data['organization'], 'type': 'organization'}


def nk_project(data):
    return {'organization': nk_org(data), 'name': data['project']['name'], 'type': 'project'}


def nk_inventory(data):
    return {'organization': nk_org(data), 'name': data['inventory']['name'], 'type': 'inventory'}


def nk_ee(data):
    return {'name': data['execution_environment']['name'], 'type': 'execution_environment'}


def nk_credential(data, cred):
    return {
        'organization': nk_org(data),
        'name': cred['name'],
        'credential_type': {'name': cred['credential_type'], 'kind': cred['kind'], 'type': 'credential_type'},
        'type': 'credential',
    }


def nk_job_template(data, template):
    return {'organization': nk_org(data), 'name': template['name'], 'type': 'job_template'}


# ---- the import document -------------------------------------------------------------------------

def template_settings(data, template):
    settings = dict(data['job_template_defaults'])
    for key in settings:
        if key in template:
            settings[key] = template[key]
    return settings


def schedule_asset(data, template, schedule):
    return {
        'name': schedule['name'],
        'description': schedule.get('description', f"{template['playbook']} in {data['timezone']}"),
        'rrule': rrule_string(data, schedule),
        'enabled': schedule.get('enabled', True),
        'extra_data': schedule.get('extra_data', {}),
        'unified_job_template': nk_job_template(data, template),
        'natural_key': {'unified_job_template': nk_job_template(data, template), 'name': schedule['name'], 'type': 'schedule'},
    }


def job_template_asset(data, key, template):
    settings = template_settings(data, template)
    asset = {
        'name': template['name'],
        'description': template.get('description', ''),
        'job_type': settings['job_type'],
        'inventory': nk_inventory(data),
        'project': nk_project(data),
        'playbook': template['playbook'],
        'scm_branch': '',
        'forks': settings['forks'],
        'limit': template.get('limit', ''),
        'verbosity': settings['verbosity'],
        'extra_vars': json.dumps(extra_vars(data, template), indent=2, sort_keys=True),
        'job_tags': '',
        'force_handlers': False,
        'skip_tags': '',
        'start_at_task': '',
        'timeout': template['timeout'],
        'use_fact_cache': False,
        'execution_environment': nk_ee(data),
        'host_config_key': '',
        'ask_scm_branch_on_launch': False,
        'ask_diff_mode_on_launch': False,
        'ask_variables_on_launch': False,
        'ask_limit_on_launch': settings['ask_limit_on_launch'],
        'ask_tags_on_launch': False,
        'ask_skip_tags_on_launch': False,
        'ask_job_type_on_launch': settings['ask_job_type_on_launch'],
        'ask_verbosity_on_launch': settings['ask_verbosity_on_launch'],
        'ask_inventory_on_launch': False,
        'ask_credential_on_launch': False,
        'survey_enabled': bool(template.get('questions')),
        'become_enabled': settings['become_enabled'],
        'diff_mode': False,
        'allow_simultaneous': settings['allow_simultaneous'],
        'job_slice_count': settings['job_slice_count'],
        'webhook_service': '',
        'prevent_instance_group_fallback': False,
    }
    related = {
        'credentials': [nk_credential(data, c) for c in data.get('credentials', [])],
        'labels': [],
        'schedules': [schedule_asset(data, template, s) for s in data['schedules'] if s['job_template'] == key],
    }
    if template.get('questions'):
        related['survey_spec'] = survey_spec(data, template)
    asset['related'] = related
    asset['natural_key'] = nk_job_template(data, template)
    return asset


def import_document(data):
    ee, project, inv = data['execution_environment'], data['project'], data['inventory']
    return {
        'execution_environments': [{
            'name': ee['name'],
            'description': ee.get('description', ''),
            'organization': nk_org(data),
            'image': ee['image'],
            'pull': ee.get('pull', 'missing'),
            'credential': None,
            'natural_key': nk_ee(data),
        }],
        'projects': [{
            'name': project['name'],
            'description': project.get('description', ''),
            'organization': nk_org(data),
            'scm_type': project['scm_type'],
            'scm_url': project['scm_url'],
            'scm_branch': project['scm_branch'],
            'scm_clean': False,
            'scm_delete_on_update': False,
            'scm_update_on_launch': project['scm_update_on_launch'],
            'scm_update_cache_timeout': 0,
            'allow_override': False,
            'timeout': 0,
            'default_environment': nk_ee(data),
            'related': {},
            'natural_key': nk_project(data),
        }],
        'inventory': [{
            'name': inv['name'],
            'description': inv.get('description', ''),
            'organization': nk_org(data),
            'kind': '',
            'variables': '---',
            'prevent_instance_group_fallback': False,
            'related': {},
            'natural_key': nk_inventory(data),
        }],
        'inventory_sources': [{
            'name': inv['source_name'],
            'description': f"{inv['source_path']} from the project",
            'inventory': nk_inventory(data),
            'source': 'scm',
            'source_project': nk_project(data),
            'source_path': inv['source_path'],
            'overwrite': True,
            'overwrite_vars': True,
            'update_on_launch': True,
            'update_cache_timeout': 0,
            'execution_environment': nk_ee(data),
            'related': {},
            'natural_key': {'name': inv['source_name'], 'inventory': nk_inventory(data), 'type': 'inventory_source'},
        }],
        'job_templates': [job_template_asset(data, key, t) for key, t in data['job_templates'].items()],
    }


# ---- awx.awx tasks ---------------------------------------------------------------------------------

COLLECTION_HEADER = """\
---
# Generated by awx/render.py from awx/maintenance.yml: edit that file, then run
# `python awx/render.py` (tests/unit/test_awx.py fails while this file is stale).
#
# The same objects as awx/import.json, as awx.awx tasks, for teams that have the awx.awx
# collection (ansible-galaxy collection install awx.awx). Run from a machine that reaches AWX:
#   export CONTROLLER_HOST=https://awx.example.invalid CONTROLLER_OAUTH_TOKEN=...
#   ansible-playbook awx/awx-collection.yml
# The credentials named in the job templates must exist (secrets never live in this file).
"""


def collection_playbook(data):
    org = data['organization']
    ee, project, inv = data['execution_environment'], data['project'], data['inventory']
    tasks = [
        {'name': f"Execution environment {ee['name']}", 'awx.awx.execution_environment': {
            'name': ee['name'], 'description': ee.get('description', ''), 'organization': org,
            'image': ee['image'], 'pull': ee.get('pull', 'missing'), 'state': 'present'}},
        {'name': f"Project {project['name']}", 'awx.awx.project': {
            'name': project['name'], 'description': project.get('description', ''), 'organization': org,
            'scm_type': project['scm_type'], 'scm_url': project['scm_url'], 'scm_branch': project['scm_branch'],
            'scm_update_on_launch': project['scm_update_on_launch'], 'default_environment': ee['name'],
            'wait': True, 'state': 'present'}},
        {'name': f"Inventory {inv['name']}", 'awx.awx.inventory': {
            'name': inv['name'], 'description': inv.get('description', ''), 'organization': org, 'state': 'present'}},
        {'name': f"Inventory source {inv['source_name']}", 'awx.awx.inventory_source': {
            'name': inv['source_name'], 'inventory': inv['name'], 'organization': org, 'source': 'scm',
            'source_project': project['name'], 'source_path': inv['source_path'], 'overwrite': True,
            'overwrite_vars': True, 'update_on_launch': True, 'execution_environment': ee['name'],
            'state': 'present'}},
    ]
    for key, template in data['job_templates'].items():
        settings = template_settings(data, template)
        jt = {
            'name': template['name'], 'description': template.get('description', ''), 'organization': org,
            'job_type': settings['job_type'], 'inventory': inv['name'], 'project': project['name'],
            'playbook': template['playbook'], 'execution_environment': ee['name'],
            'credentials': [c['name'] for c in data.get('credentials', [])],
            'forks': settings['forks'], 'verbosity': settings['verbosity'], 'timeout': template['timeout'],
            'ask_job_type_on_launch': settings['ask_job_type_on_launch'],
            'ask_limit_on_launch': settings['ask_limit_on_launch'],
            'ask_verbosity_on_launch': settings['ask_verbosity_on_launch'],
            'become_enabled': settings['become_enabled'], 'allow_simultaneous': settings['allow_simultaneous'],
            'extra_vars': extra_vars(data, template),
            'survey_enabled': bool(template.get('questions')),
            'job_slice_count': settings['job_slice_count'],
        }
        if template.get('limit'):
            jt['limit'] = template['limit']
        if template.get('questions'):
            jt['survey_spec'] = survey_spec(data, template)
        tasks.append({'name': f"Job template {template['name']} ({key})", 'awx.awx.job_template': dict(jt, state='present')})
    for schedule in data['schedules']:
        template = data['job_templates'][schedule['job_template']]
        tasks.append({'name': f"Schedule {schedule['name']}", 'awx.awx.schedule': {
            'name': schedule['name'], 'unified_job_template': template['name'], 'organization': org,
            'rrule': rrule_string(data, schedule), 'enabled': schedule.get('enabled', True), 'state': 'present'}})
    play = [{
        'name': 'runbook.maintenance in AWX (project, inventory, job templates, schedules)',
        'hosts': 'localhost',
        'connection': 'local',
        'gather_facts': False,
        'tasks': tasks,
    }]
    body = yaml.safe_dump(play, sort_keys=False, width=4096, default_flow_style=False, allow_unicode=True)
    return COLLECTION_HEADER + body


def render(data):
    """{path: text} of every generated file."""
    return {
        IMPORT_JSON: json.dumps(import_document(data), indent=2) + '\n',
        COLLECTION_YML: collection_playbook(data),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='fail when the generated files are stale')
    args = parser.parse_args(argv)
    stale = []
    for path, text in render(load()).items():
        current = path.read_text(encoding='utf-8') if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.name)
        else:
            path.write_text(text, encoding='utf-8')
            print(f'wrote {path}')
    if stale:
        print(f"stale: {', '.join(stale)} - run python awx/render.py", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
