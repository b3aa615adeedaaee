# -*- coding: utf-8 -*-
# Copyright: runbook.maintenance contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event filter runbook.maintenance.alertmanager_hosts for ansible-rulebook.

Written here because the ansible.eda collection (whose alertmanager source does this) is not in the
ansible package, and the builtin filters cannot strip a port from the instance label.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import re

DOCUMENTATION = r"""
---
short_description: One event per Alertmanager alert, with the alert's host as the run's limit
description:
  - Takes the event of eda.builtin.webhook that received an Alertmanager webhook notification
    (JSON version 4, its alerts under payload.alerts) and returns one event per alert:
    C(alert) (status, labels, annotations, startsAt, endsAt, fingerprint, generatorURL),
    C(host) (the managed host), C(receiver), C(external_url), C(group_key), and meta.hosts set to
    [host], which makes run_playbook limit the run to that host.
  - The host is the first of I(host_labels) the alert carries, with a port taken off
    (db-1:9100 -> db-1, [2001:db8::1]:9187 -> 2001:db8::1).
  - An alert without any of those labels, or whose host is not a plain host name or address,
    is dropped with a warning (a run without a limit would run on every host).
  - Resolved alerts are dropped unless I(include_resolved) is true; anything that is not an
    Alertmanager notification is dropped with a warning.
options:
  host_labels:
    description: Labels naming the host, first found wins.
    type: list
    default: [host, instance]
  include_resolved:
    description: Keep resolved alerts too.
    type: bool
    default: false
"""

LOGGER = logging.getLogger(__name__)

# A host name or an IPv4/IPv6 address, as an inventory pattern may safely take it (no glob, no
# comma, no range, no leading '!' or '&' that would change the meaning of --limit).
_HOST_RE = re.compile(r'^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$|^[0-9A-Fa-f:.]+$')


def strip_port(value):
    """'db-1:9100' -> 'db-1', '[2001:db8::1]:9187' -> '2001:db8::1', '2001:db8::1' -> itself."""
    value = (value or '').strip()
    if value.startswith('['):
        end = value.find(']')
        return value[1:end] if end > 0 else value
    if value.count(':') == 1:
        return value.split(':', 1)[0]
    return value  # a bare IPv6 address, or no port


def alert_host(labels, host_labels=('host', 'instance')):
    """The managed host an alert is about, or None."""
    for name in host_labels:
        value = labels.get(name) if isinstance(labels, dict) else None
        if isinstance(value, str) and value.strip():
            host = strip_port(value)
            # 'all' and 'ungrouped' are inventory patterns for many hosts, never one host
            return host if _HOST_RE.match(host) and host not in ('all', 'ungrouped') else None
    return None


def split_alerts(event, host_labels=('host', 'instance'), include_resolved=False):
    """The events of one webhook event (pure: see main)."""
    payload = event.get('payload') if isinstance(event, dict) else None
    alerts = payload.get('alerts') if isinstance(payload, dict) else None
    if not isinstance(alerts, list):
        LOGGER.warning('alertmanager_hosts: not an Alertmanager notification (no alerts list): dropped')
        return []
    out = []
    for alert in alerts:
        if not isinstance(alert, dict):
            continue
        status = alert.get('status', payload.get('status', 'firing'))
        if status != 'firing' and not include_resolved:
            continue
        labels = alert.get('labels') or {}
        host = alert_host(labels, host_labels)
        if host is None:
            LOGGER.warning('alertmanager_hosts: alert %s has no usable %s label: dropped',
                           labels.get('alertname', '?'), ' or '.join(host_labels))
            continue
        out.append({
            'alert': {
                'status': status,
                'labels': labels,
                'annotations': alert.get('annotations') or {},
                'startsAt': alert.get('startsAt'),
                'endsAt': alert.get('endsAt'),
                'fingerprint': alert.get('fingerprint'),
                'generatorURL': alert.get('generatorURL'),
            },
            'host': host,
            'receiver': payload.get('receiver'),
            'external_url': payload.get('externalURL'),
            'group_key': payload.get('groupKey'),
            'meta': {'hosts': [host]},
        })
    return out


def main(event, host_labels=None, include_resolved=False):
    """ansible-rulebook's entry point: a list of events (possibly empty)."""
    return split_alerts(event, tuple(host_labels or ('host', 'instance')), bool(include_resolved))
