"""Role interfaces: every role's meta/argument_specs.yml against its defaults/main.yml.

Ansible validates a role's variables against meta/argument_specs.yml before the role's first task,
and `ansible-doc -t role` documents the role from it. The spec only helps if it tells the truth:
every variable of defaults/main.yml is documented, its documented default is the one the role
really has, the role's own defaults pass its own spec, and defaults/main.yml explains each
variable (a comment in the paragraph above it). Tasks files other roles or playbooks call with
tasks_from have an entry point of their own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent for p in (REPO / 'roles').glob('*/tasks'))
ROLE_NAMES = [r.name for r in ROLES]


def spec_of(role: Path) -> dict:
    return yaml.safe_load((role / 'meta' / 'argument_specs.yml').read_text())['argument_specs']


def defaults_of(role: Path) -> dict:
    path = role / 'defaults' / 'main.yml'
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def templated(value) -> bool:
    """A default computed when the role runs (its spec names it in the description instead)."""
    if isinstance(value, str):
        return '{{' in value
    if isinstance(value, (list, dict)):
        return any(templated(v) for v in (value.values() if isinstance(value, dict) else value))
    return False


def test_every_role_is_found():
    assert len(ROLES) >= 19, ROLE_NAMES


@pytest.mark.parametrize('role', ROLES, ids=ROLE_NAMES)
def test_every_default_is_documented_with_its_default(role):
    options = spec_of(role)['main']['options']
    problems = []
    for name, value in defaults_of(role).items():
        if name not in options:
            problems.append(f'{name}: in defaults/main.yml, not in the spec')
            continue
        option = options[name]
        if not option.get('description'):
            problems.append(f'{name}: no description')
        if option.get('required'):
            if 'default' in option:  # defaults/main.yml holds a placeholder the spec refuses
                problems.append(f'{name}: required, yet the spec has a default')
        elif templated(value):
            if 'default' in option:
                problems.append(f'{name}: the default is a template; the spec names it in the description instead')
        elif option.get('default') != value:
            problems.append(f'{name}: spec default {option.get("default")!r} != defaults/main.yml {value!r}')
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('role', ROLES, ids=ROLE_NAMES)
def test_no_template_in_a_spec(role):
    """Ansible templates the spec it validates with: a Jinja example in a description is evaluated."""
    text = (role / 'meta' / 'argument_specs.yml').read_text()
    assert '{{' not in text and '{%' not in text


@pytest.mark.parametrize('role', ROLES, ids=ROLE_NAMES)
def test_every_option_is_prefixed_with_the_role_name(role):
    options = spec_of(role)['main']['options']
    assert [n for n in options if not n.startswith(role.name + '_')] == []


@pytest.mark.parametrize('role', ROLES, ids=ROLE_NAMES)
def test_the_roles_own_defaults_pass_its_spec(role):
    # required options hold a placeholder in defaults/main.yml that the spec refuses on purpose
    options = {k: v for k, v in spec_of(role)['main']['options'].items() if not v.get('required')}
    values = {k: v for k, v in defaults_of(role).items() if k in options and not templated(v)}
    result = ArgumentSpecValidator(options).validate(values, validate_role_argument_spec=True)
    assert result.error_messages == []


@pytest.mark.parametrize('role', ROLES, ids=ROLE_NAMES)
def test_every_default_has_a_comment(role):
    path = role / 'defaults' / 'main.yml'
    if not path.exists():
        pytest.skip('no defaults')
    commented, missing = False, []
    for line in path.read_text().splitlines():
        if not line.strip() or line.strip() == '---':
            commented = False  # a blank line ends the paragraph a comment explains
        elif line.startswith('#'):
            commented = True
        elif (m := re.match(r'^([a-z_][a-z0-9_]*):', line)) and not commented:
            missing.append(m.group(1))
    assert missing == [], f'variables of {path.relative_to(REPO)} without a comment above them'


def tasks_from_calls():
    """(role, entry point) of every include_role / import_role with tasks_from in the project."""
    calls = set()
    for path in [*REPO.glob('playbooks/**/*.yml'), *REPO.glob('roles/*/tasks/*.yml'), *REPO.glob('extensions/molecule/*/*.yml')]:
        for doc in yaml.safe_load_all(path.read_text()):
            stack = [doc]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    for key in ('ansible.builtin.include_role', 'ansible.builtin.import_role', 'include_role', 'import_role'):
                        call = node.get(key)
                        if isinstance(call, dict) and 'tasks_from' in call:
                            calls.add((call['name'].split('.')[-1], call['tasks_from']))
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
    return sorted(calls)


@pytest.mark.parametrize('role,entry', tasks_from_calls(), ids=str)
def test_every_tasks_from_has_an_entry_point(role, entry):
    assert entry in spec_of(REPO / 'roles' / role), f'{role}: tasks_from {entry} has no entry point in meta/argument_specs.yml'


def test_tasks_from_calls_are_found():
    assert ('pgbackrest', 'restore_scratch') in tasks_from_calls()
