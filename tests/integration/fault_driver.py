"""Runs modules of the collection in one process, case after case (the fault suite's option table).

    python fault_driver.py specs                 -> {module: {option: {type, aliases}}} as JSON
    python fault_driver.py run MODULE CASES.json -> [{stdout, stderr, rc}] as JSON, one per case

`specs` reads each module's real argument_spec (AnsibleModule is stopped as it is created), so a
new option is in the table the moment it is added. `run` calls the module's main() with each
case's arguments exactly as Ansible passes them (patch_module_args), one process per module:
hundreds of cases in seconds instead of one Python start each.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
from pathlib import Path

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

PLUGINS = Path(__file__).resolve().parents[2] / 'plugins'
# Modules that run on the target; a module file beside an action plugin of the same name only
# documents it (controller_files: its options are checked by the action, tests/unit/plugins/action).
MODULES = sorted(path.stem for path in (PLUGINS / 'modules').glob('*.py')
                 if not path.stem.startswith('_') and not (PLUGINS / 'action' / path.name).exists())


class _Captured(Exception):
    pass


def flatten(spec: dict, prefix: str = '') -> dict:
    out = {}
    for name, option in spec.items():
        out[prefix + name] = {'type': option.get('type', 'str'), 'aliases': option.get('aliases', [])}
        if option.get('options') and option.get('type') == 'dict':
            out.update(flatten(option['options'], f'{prefix}{name}.'))
    return out


def specs() -> dict:
    found = {}
    original = basic.AnsibleModule.__init__

    def capture(self, argument_spec, *args, **kwargs):
        found['spec'] = argument_spec
        raise _Captured()

    basic.AnsibleModule.__init__ = capture
    try:
        result = {}
        for name in MODULES:
            module = importlib.import_module(f'ansible_collections.runbook.maintenance.plugins.modules.{name}')
            found.clear()
            with patch_module_args({}):
                try:
                    module.main()
                except _Captured:
                    pass
            result[name] = flatten(found['spec'])
        return result
    finally:
        basic.AnsibleModule.__init__ = original


def run(name: str, cases: list) -> list:
    module = importlib.import_module(f'ansible_collections.runbook.maintenance.plugins.modules.{name}')
    results = []
    for args in cases:
        # Warnings are process-wide in ansible-core: each case starts with none, as a new process would.
        ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        ansible_warnings._global_deprecations.clear()  # pylint: disable=protected-access
        out, err, rc = io.StringIO(), io.StringIO(), None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), patch_module_args(args):
            try:
                module.main()
            except SystemExit as exc:
                rc = exc.code
            except BaseException as exc:  # noqa: BLE001 - an escaping exception is what the suite looks for
                import traceback  # pylint: disable=import-outside-toplevel
                err.write('Traceback (most recent call last):\n' + ''.join(traceback.format_exception(exc)))
                rc = 'exception'
        results.append({'stdout': out.getvalue(), 'stderr': err.getvalue(), 'rc': rc})
    return results


def run_cases(module: str, cases: list, workdir: Path, env: dict) -> list:
    """For the tests: run the cases in one new process; one parsed result per case, each with
    '_stderr' and '_rc' (like pg_helpers.ModuleRunner, which starts a process per run)."""
    import subprocess  # pylint: disable=import-outside-toplevel
    path = workdir / f'{module}-cases-{len(list(workdir.glob("*-cases-*.json")))}.json'
    path.write_text(json.dumps([dict(case, _ansible_no_log=False) for case in cases]))
    done = subprocess.run([sys.executable, __file__, 'run', module, str(path)], capture_output=True, text=True,
                          env=env, timeout=900, check=False)
    if done.returncode != 0:
        raise AssertionError(f'the driver failed: {done.stderr[-3000:]}')
    parsed = []
    for outcome in json.loads(done.stdout):
        text = outcome['stdout']
        try:
            result = json.loads(text[text.index('{'):])
        except ValueError:
            result = {'_unparsed': text}
        result.update(_stderr=outcome['stderr'], _rc=outcome['rc'])
        parsed.append(result)
    return parsed


if __name__ == '__main__':
    if sys.argv[1] == 'specs':
        print(json.dumps(specs()))
    else:
        print(json.dumps(run(sys.argv[2], json.loads(Path(sys.argv[3]).read_text()))))
