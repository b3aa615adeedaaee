#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: container_image_status
short_description: Tell which containers would run a newer image, without pulling anything
version_added: 0.1.0
description:
  - For each container, compares three things and changes none of them. The image the container
    runs, the image its reference (C(repo:tag)) points to on this host, and the digest the
    registry serves for that reference now.
  - The registry is asked through the Docker engine's distribution endpoint (what
    C(docker manifest inspect) asks), so the answer honours the engine's registry configuration
    and the credentials in the Docker client configuration of the user running the module.
  - Written here because M(community.docker.docker_image_pull) cannot tell in check mode whether a
    pull would bring a new image (it assumes it would); this module is the truthful plan that
    the C(image_updates) role shows in check mode and acts on otherwise.
  - A registry that cannot be reached is reported per container (RV(images[].error)), never
    treated as "no update".
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Read-only; the same answer in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Never changes anything.
options:
  containers:
    description: The containers to look at.
    type: list
    elements: dict
    required: true
    suboptions:
      container:
        description: Container name.
        type: str
        required: true
      image:
        description: The image reference the container should run (C(registry/repo:tag) or C(repo@sha256:...)).
        type: str
        required: true
      name:
        description: The service's name in the result (default, O(containers[].container)).
        type: str
  registry_check:
    description:
      - Ask the registry for the digest of each reference. V(false) only compares the container
        with the local image (for images delivered by C(docker load)).
    type: bool
    default: true
  previous_suffix:
    description:
      - Suffix of the tag under which an update keeps the image a container ran before
        (RV(images[].previous_image), C(app:stable) -> C(app:stable-previous)).
    type: str
    default: -previous
  docker_host:
    description: Docker daemon address (default from the environment, C(unix:///var/run/docker.sock)).
    type: str
  timeout:
    description: Seconds to wait for an answer from the Docker daemon (and through it, the registry).
    type: int
    default: 60
requirements:
  - docker (Python SDK) on the host running the module
seealso:
  - module: community.docker.docker_image_pull
  - module: community.docker.docker_container
'''

EXAMPLES = r'''
- name: Which services would get a new image?
  runbook.maintenance.container_image_status:
    containers:
      - {name: api, container: shop-api, image: registry.example.com/shop/api:stable}
      - {name: frontend, container: shop-frontend, image: registry.example.com/shop/frontend:stable}
  register: images

- name: List them
  ansible.builtin.debug:
    msg: "{{ images.updates }}"
'''

RETURN = r'''
images:
  description: One entry per container, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The service's name.
      type: str
    container:
      description: The container.
      type: str
    image:
      description: The reference.
      type: str
    container_found:
      description: Whether the container exists.
      type: bool
    running_image_id:
      description: The ID of the image the container runs (null when it does not exist).
      type: str
    local_image_id:
      description: The ID the reference points to on this host (null when it is not here).
      type: str
    local_digests:
      description: The registry digests of that local image.
      type: list
      elements: str
    registry_digest:
      description: The digest the registry serves for the reference (null when not asked or unreachable).
      type: str
    pull:
      description: A pull would bring an image this host does not have.
      type: bool
    recreate:
      description: The container would be recreated to run another image.
      type: bool
    needs_update:
      description: The container needs an update (pull and/or recreate).
      type: bool
    reason:
      description: One readable line.
      type: str
    previous_image:
      description: The reference under which an update keeps the image the container ran before.
      type: str
    error:
      description: Why the registry or the engine could not answer for this container (null otherwise).
      type: str
  sample:
    - name: api
      container: shop-api
      image: registry.example.com/shop/api:stable
      container_found: true
      running_image_id: sha256:0d1f...
      local_image_id: sha256:0d1f...
      local_digests: [sha256:77aa...]
      registry_digest: sha256:91be...
      pull: true
      recreate: true
      needs_update: true
      reason: the registry serves 91be... for registry.example.com/shop/api:stable, this host has 77aa...
      previous_image: registry.example.com/shop/api:stable-previous
      error: null
updates:
  description: The names of the services that need an update.
  returned: always
  type: list
  elements: str
errors:
  description: The names of the services whose status could not be read completely.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.dockersdk import connect
from ansible_collections.runbook.maintenance.plugins.module_utils.images import (
    ImageReferenceError,
    plan,
    previous_reference,
    split_reference,
)


def explain(exc: Exception) -> str:
    """The daemon's own words for an API error (the SDK's str() adds the request URL)."""
    return str(getattr(exc, 'explanation', None) or exc)


class ImageStatus:
    def __init__(self, module: AnsibleModule, client, not_found: type[Exception]) -> None:
        self.module = module
        self.client = client
        self.not_found = not_found

    def one(self, entry: dict) -> dict:
        name = entry.get('name') or entry['container']
        ref = entry['image']
        row = {'name': name, 'container': entry['container'], 'image': ref, 'container_found': False,
               'running_image_id': None, 'local_image_id': None, 'local_digests': [],
               'registry_digest': None, 'error': None,
               'previous_image': previous_reference(ref, self.module.params['previous_suffix'])}
        errors = []
        try:
            row['running_image_id'] = self.client.api.inspect_container(entry['container'])['Image']
            row['container_found'] = True
        except self.not_found:
            pass
        except Exception as exc:  # noqa: BLE001 - any API error is this container's error
            errors.append(f'container {entry["container"]}: {explain(exc)}')
        try:
            local = self.client.api.inspect_image(ref)
            row['local_image_id'] = local['Id']
            row['local_digests'] = sorted(local.get('RepoDigests') or [])
        except self.not_found:
            pass
        except Exception as exc:  # noqa: BLE001
            errors.append(f'image {ref}: {explain(exc)}')
        if self.module.params['registry_check'] and split_reference(ref)[2] is None:
            try:
                row['registry_digest'] = self.client.api.inspect_distribution(ref)['Descriptor']['digest']
            except Exception as exc:  # noqa: BLE001 - unreachable registry, auth, unknown tag
                errors.append(f'registry for {ref}: {explain(exc)}')
        row['error'] = '; '.join(errors) or None
        row.update(plan(ref, container_found=row['container_found'], running_image_id=row['running_image_id'],
                        local_image_id=row['local_image_id'], local_repo_digests=row['local_digests'],
                        registry_digest=row['registry_digest'],
                        registry_checked=self.module.params['registry_check'], error=row['error']))
        if row['error'] and not row['needs_update']:
            row['reason'] = row['error'] if row['container_found'] else f"{row['reason']}; {row['error']}"
        return row

    def run(self) -> dict:
        rows = [self.one(entry) for entry in self.module.params['containers']]
        return {
            'changed': False,
            'images': rows,
            'updates': [r['name'] for r in rows if r['needs_update']],
            'errors': [r['name'] for r in rows if r['error']],
        }


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            containers=dict(type='list', elements='dict', required=True, options=dict(
                container=dict(type='str', required=True),
                image=dict(type='str', required=True),
                name=dict(type='str'),
            )),
            registry_check=dict(type='bool', default=True),
            previous_suffix=dict(type='str', default='-previous'),
            docker_host=dict(type='str'),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    for entry in module.params['containers']:
        try:
            previous_reference(entry['image'], module.params['previous_suffix'])
        except ImageReferenceError as exc:
            module.fail_json(msg=f"container {entry['container']}: {exc}")
    if not 0 < module.params['timeout'] <= 3600:
        module.fail_json(msg=f"timeout must be between 1 and 3600 seconds, got {module.params['timeout']}")
    docker, client = connect(module, module.params['docker_host'], module.params['timeout'])
    result = ImageStatus(module, client, docker.errors.NotFound).run()
    for row in result['images']:
        if row['error']:
            module.warn(f"{row['name']}: {row['error']}")
    module.exit_json(**result)


if __name__ == '__main__':
    main()
