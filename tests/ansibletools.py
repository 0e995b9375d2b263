"""What the Ansible tests share: skip marks for the tools they need, and a YAML reader for
playbooks that keeps Ansible's ``!unsafe`` text."""

from __future__ import annotations

import pytest
import yaml

from hftinfra.fixes import ansible as fa

needs_ansible = pytest.mark.skipif(fa.find_tool("ansible-playbook") is None,
                                   reason="ansible-playbook not installed (pip install ansible)")
needs_lint = pytest.mark.skipif(fa.find_tool("ansible-lint") is None,
                                reason="ansible-lint not installed (pip install ansible-lint)")


class _Loader(yaml.SafeLoader):
    """Reads Ansible's !unsafe tag as the plain text it marks."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
