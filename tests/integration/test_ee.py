"""execution-environment.yml: `ansible-builder create` accepts it and writes the context we mean.

No registry and no container engine are needed: `create` only writes the build context. The
collection tarball is built from this checkout exactly as the file's header says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE = REPO / 'execution-environment.yml'


def pins(path):
    """name -> full requirement line of a pip requirements file (comments and -r skipped)."""
    out = {}
    for line in path.read_text(encoding='utf-8').splitlines():
        line = line.split('#')[0].strip()
        if line and not line.startswith('-'):
            out[re.split(r'[\[=<>~!]', line, maxsplit=1)[0].lower()] = line
    return out


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    if not (BIN / 'ansible-builder').exists():
        pytest.fail('ansible-builder is missing: pip install -r requirements-test.txt')
    work = tmp_path_factory.mktemp('ee')
    shutil.copy(EE, work / EE.name)
    env = dict(os.environ, ANSIBLE_HOME=str(work / 'ansible-home'), ANSIBLE_NOCOLOR='1')
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path',
                    str(work / '.build' / 'ee'), str(REPO)], check=True, capture_output=True, env=env, timeout=300)
    run = subprocess.run([str(BIN / 'ansible-builder'), 'create', '-f', EE.name, '-c', 'context',
                          '--output-filename', 'Containerfile'],
                         cwd=work, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'No matches' not in run.stdout + run.stderr  # the tarball was found and copied
    return work / 'context'


def galaxy_version():
    return yaml.safe_load((REPO / 'galaxy.yml').read_text(encoding='utf-8'))['version']


def test_schema_v3_and_base_image(context):
    definition = yaml.safe_load(EE.read_text(encoding='utf-8'))
    assert definition['version'] == 3
    containerfile = (context / 'Containerfile').read_text(encoding='utf-8')
    assert f'ARG EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    core = pins(REPO / 'requirements.txt')['ansible-core']
    assert f'ARG ANSIBLE_INSTALL_REFS="{core} ansible-runner==' in containerfile
    assert 'ansible-galaxy collection install' in containerfile and 'requirements.yml' in containerfile


def test_the_collection_from_this_checkout_is_in_the_context(context, tmp_path):
    tarball = context / '_build' / 'collections' / f'runbook-maintenance-{galaxy_version()}.tar.gz'
    assert tarball.is_file(), sorted(p.name for p in (context / '_build').rglob('*'))
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text(encoding='utf-8'))
    ours = [c for c in galaxy['collections'] if c.get('type') == 'file']
    assert ours == [{'name': f'collections/{tarball.name}', 'type': 'file'}]
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {'MANIFEST.json', 'plugins/modules/pg_vacuum.py', 'roles/maintenance_schedule/tasks/main.yml',
            'playbooks/maintenance-weekly.yml', 'meta/runtime.yml'} <= names
    assert not [n for n in names if n.startswith(('.venv', '.build', '.git/', 'tests/output'))]
    # What the galaxy stage runs, offline for our tarball: it installs.
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / 'home'), ANSIBLE_NOCOLOR='1')
    # (away from the checkout's ansible.cfg, whose collections path already holds the collection)
    env.pop('ANSIBLE_CONFIG', None)
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '--no-deps', '--force', '-p',
                    str(tmp_path / 'c'), str(tarball)], check=True, capture_output=True, env=env, timeout=300,
                   cwd=tmp_path)
    assert (tmp_path / 'c' / 'ansible_collections' / 'runbook' / 'maintenance' / 'plugins' / 'modules'
            / 'backup_create.py').is_file()


def test_collections_match_the_ones_the_tests_run_against(context):
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text(encoding='utf-8'))
    versions = {c['name']: c['version'] for c in galaxy['collections'] if c.get('type') != 'file'}
    assert set(versions) >= {'community.postgresql', 'community.docker', 'amazon.aws'}
    import ansible_collections  # the collections bundled in the venv's ansible package

    roots = [Path(p) for p in ansible_collections.__path__]
    for name, version in versions.items():
        manifest = next((r / name.replace('.', '/') / 'MANIFEST.json' for r in roots
                         if (r / name.replace('.', '/') / 'MANIFEST.json').is_file()), None)
        assert manifest, name
        assert yaml.safe_load(manifest.read_text(encoding='utf-8'))['collection_info']['version'] == version, name


def test_python_and_system_dependencies(context):
    python = pins(context / '_build' / 'requirements.txt')
    runtime = pins(REPO / 'requirements.txt')
    for name in ('psycopg', 'docker', 'boto3'):
        assert python[name] == runtime[name]
    bindep = (context / '_build' / 'bindep.txt').read_text(encoding='utf-8')
    assert re.search(r'^postgresql \[platform:rpm\]$', bindep, re.M)  # pg_dump, pg_restore, psql
    assert re.search(r'^postgresql-client \[platform:dpkg\]$', bindep, re.M)
    assert 'pgbackrest' in bindep
