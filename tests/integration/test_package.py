"""The collection as users get it: `ansible-galaxy collection build`, the tarball installed into an
empty collections path next to its declared dependencies (offline: the versions bundled in the
venv's ansible package, nothing else visible), and playbooks run by their fully qualified names
from a directory outside the checkout.

What a regression looks like here: a dependency the playbooks need but galaxy.yml does not declare
(or declares with a range the tested version does not meet), a playbook without its identifier
name (not runnable by FQCN), a build_ignore that drops part of the collection or ships the
developers' harness, a playbook that only works from the checkout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

import ansible_collections  # the collections bundled in the venv's ansible package

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text(encoding='utf-8'))
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
IDENTIFIER = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# Developers' files that must stay out of the tarball (galaxy.yml build_ignore).
NOT_SHIPPED = ('bench/', 'scripts/', 'extensions/molecule/', 'tests/integration/', 'tests/unit/',
               'tests/scripts/', 'tests/conftest.py', 'tests/output/', '.ci/', '.ansible-lint', 'Makefile',
               'ansible.cfg', 'execution-environment.yml', 'requirements-test.txt',
               'prometheus/rules/runbook.rules.test.yml', '.git/', '.venv/', '.build/')
# What a user of the collection needs.
SHIPPED = ('MANIFEST.json', 'FILES.json', 'README.md', 'meta/runtime.yml', 'plugins/modules/pg_vacuum.py',
           'plugins/module_utils/postgres.py', 'plugins/filter/duration.py', 'roles/maintenance_report/tasks/main.yml',
           'roles/pg_maintenance/tasks/main.yml', 'playbooks/maintenance-weekly.yml',
           'playbooks/maintenance_weekly.yml', 'playbooks/tasks/dr_targets.yml', 'docs/pitr.md',
           'extensions/eda/rulebooks/runbook_alerts.yml', 'prometheus/rules/runbook.rules.yml',
           'awx/import.json', 'tests/sanity/ignore-2.21.txt')
TIMEOUT = 300


def bundled(name: str) -> Path:
    """The venv's copy of collection `ns.name`."""
    for root in ansible_collections.__path__:
        path = Path(root) / name.replace('.', '/')
        if (path / 'MANIFEST.json').is_file():
            return path
    raise AssertionError(f'{name} is not bundled in the venv')


def manifest(path: Path) -> dict:
    return json.loads((path / 'MANIFEST.json').read_text(encoding='utf-8'))['collection_info']


def run(argv, env, cwd, check=True):
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if check:
        assert proc.returncode == 0, f'{argv}\n{proc.stdout}\n{proc.stderr}'
    return proc


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """Build, then install into an empty collections path; the dependencies are visible only as
    the collections galaxy.yml declares (and theirs), linked from the venv's bundled copies."""
    work = tmp_path_factory.mktemp('package')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update(ANSIBLE_HOME=str(work / 'home'), ANSIBLE_LOCAL_TEMP=str(work / 'tmp'),
               ANSIBLE_REMOTE_TEMP=str(work / 'remote-tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false', ANSIBLE_DEPRECATION_WARNINGS='false',
               PATH=f'{BIN}{os.pathsep}{env.get("PATH", "")}')
    run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path', str(work / 'dist'), str(REPO)],
        env, work)
    tarball = work / 'dist' / TARBALL
    assert tarball.is_file()

    deps = work / 'deps'
    todo, linked = list(GALAXY['dependencies']), {}
    while todo:
        name = todo.pop()
        if name in linked:
            continue
        source = bundled(name)
        link = deps / 'ansible_collections' / name.replace('.', '/')
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source, target_is_directory=True)
        linked[name] = manifest(source)['version']
        todo.extend(manifest(source)['dependencies'] or {})

    collections = work / 'collections'
    collections.mkdir()
    env['ANSIBLE_COLLECTIONS_PATH'] = f'{collections}{os.pathsep}{deps}'
    install = run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(collections),
                   str(tarball)], env, work)
    root = collections / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    outside = work / 'elsewhere'  # the runs' working directory: no ansible.cfg, no checkout
    outside.mkdir()
    return {'work': work, 'env': env, 'tarball': tarball, 'root': root, 'outside': outside,
            'install': install.stdout + install.stderr, 'linked': linked}


def test_dependencies_declared_with_ranges_the_tested_versions_meet(installed):
    declared = GALAXY['dependencies']
    assert {'community.postgresql', 'community.docker', 'amazon.aws'} <= set(declared)
    for name, spec in declared.items():
        assert re.fullmatch(r'>=\d+\.\d+\.\d+,<\d+\.0\.0', spec), (name, spec)
        low, high = (tuple(int(p) for p in part.lstrip('<>=').split('.')) for part in spec.split(','))
        tested = tuple(int(p) for p in manifest(bundled(name))['version'].split('.'))
        assert low <= tested < high, (name, spec, tested)
    # The offline resolver accepted the bundled versions for every declared dependency.
    for name in declared:
        assert re.search(rf"'{re.escape(name)}:{re.escape(installed['linked'][name])}' is already installed",
                         installed['install']), installed['install']


def test_every_collection_the_roles_and_playbooks_call_is_declared():
    used = set()
    for path in [*REPO.glob('roles/**/*.yml'), *REPO.glob('playbooks/**/*.yml')]:
        text = path.read_text(encoding='utf-8')
        # task keywords (`community.docker.docker_container:`), module_defaults groups, role names
        used.update(re.findall(r'^\s*(?:- )?([a-z_]+\.[a-z_0-9]+)\.[a-z_0-9]+:', text, re.M))
        used.update(re.findall(r'group/([a-z_]+\.[a-z_0-9]+)\.', text))
        used.update(re.findall(r'name: ([a-z_]+\.[a-z_0-9]+)\.[a-z_0-9]+\s*$', text, re.M))
    used -= {'ansible.builtin', f"{GALAXY['namespace']}.{GALAXY['name']}"}
    assert {'community.postgresql', 'community.docker', 'amazon.aws'} <= used  # the scan sees them
    assert used <= set(GALAXY['dependencies']), sorted(used - set(GALAXY['dependencies']))


def test_tarball_holds_the_collection_and_not_the_harness(installed):
    with tarfile.open(installed['tarball']) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = set(members)
    assert set(SHIPPED) <= names, sorted(set(SHIPPED) - names)
    shipped_harness = sorted(n for n in names if n.startswith(NOT_SHIPPED) or n in {p.rstrip('/') for p in NOT_SHIPPED})
    assert not shipped_harness
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]
    # Each playbook once: the identifier name is a link to the runbook's file, not a copy.
    playbooks = {n: m for n, m in members.items() if re.fullmatch(r'playbooks/[^/]+\.yml', n)}
    for name, member in playbooks.items():
        stem = Path(name).stem
        if IDENTIFIER.match(stem):
            if member.issym():
                assert '/' not in member.linkname and f'playbooks/{member.linkname}' in playbooks, member.linkname
                assert member.linkname == stem.replace('_', '-') + '.yml', (name, member.linkname)
        else:
            assert member.isfile(), name
            twin = playbooks.get(f"playbooks/{stem.replace('-', '_')}.yml")
            assert twin is not None and twin.issym() and twin.linkname == Path(name).name, name


def test_checkout_playbooks_have_identifier_twins():
    """Every runbook file keeps its path; every one has an identifier name (a link to it)."""
    for path in sorted((REPO / 'playbooks').glob('*.yml')):
        if path.is_symlink():
            assert IDENTIFIER.match(path.stem) and os.readlink(path) == path.stem.replace('_', '-') + '.yml', path
            assert path.resolve().parent == (REPO / 'playbooks').resolve() and path.resolve().is_file(), path
        elif not IDENTIFIER.match(path.stem):
            twin = path.with_name(path.stem.replace('-', '_') + '.yml')
            assert twin.is_symlink() and os.readlink(twin) == path.name, twin


def test_every_playbook_parses_by_its_fqcn_from_the_installed_copy(installed):
    root = installed['root']
    names = sorted(p.stem for p in (root / 'playbooks').glob('*.yml') if IDENTIFIER.match(p.stem))
    assert 'maintenance_weekly' in names and 'health_check' in names and len(names) >= 20
    fqcns = [f"{GALAXY['namespace']}.{GALAXY['name']}.{n}" for n in names]
    proc = run([str(BIN / 'ansible-playbook'), '-i', 'localhost,', '--syntax-check', *fqcns],
               installed['env'], installed['outside'])
    parsed = re.findall(r'^playbook: (\S+)$', proc.stdout, re.M)
    assert parsed == [str(root / 'playbooks' / f'{n}.yml') for n in names], proc.stdout


def test_health_check_runs_by_fqcn_from_the_installed_copy(installed):
    """A real run, harmless on this machine: the health check of no service, PostgreSQL left out."""
    reports = installed['work'] / 'reports'
    proc = run([str(BIN / 'ansible-playbook'), '-vv', '-i', 'localhost,', '-c', 'local',
                f"{GALAXY['namespace']}.{GALAXY['name']}.health_check",
                '-e', f'ansible_python_interpreter={sys.executable}', '-e', 'service_recovery_hosts=all',
                '-e', '{"service_recovery_services": [], "health_check_postgres": false}',
                '-e', f'maintenance_report_dir={reports}'], installed['env'], installed['outside'])
    assert re.search(r'^localhost\s+: ok=\d+ .*failed=0 ', proc.stdout, re.M), proc.stdout
    paths = re.findall(r'^task path: (\S+?):\d+$', proc.stdout, re.M)
    assert paths, proc.stdout
    assert all(p.startswith(str(installed['root']) + '/') for p in paths), sorted(set(paths))
    assert any(p.endswith('/playbooks/health_check.yml') for p in paths)
    assert any('/roles/maintenance_report/' in p for p in paths)
    report = json.loads(next(reports.glob('health_check-localhost-*.json')).read_text(encoding='utf-8'))
    assert report['procedure'] == 'health_check' and report['status'] == 'ok'
