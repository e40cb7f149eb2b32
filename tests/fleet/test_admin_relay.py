"""The pure pieces of the admin relay: what a published change reads back as, who applies it."""

from __future__ import annotations

import pytest

from cortex.fleet.admin import AdminChange, decode_change, encode_change, should_apply

ADD = AdminChange("add_worker", "extra", {"type": "groq", "api_keys": ["gsk-1"]})


@pytest.mark.parametrize(
    "change", [AdminChange("reload"), AdminChange("remove_worker", "extra"), ADD]
)
def test_a_published_change_reads_back_with_its_sender_and_version(change):
    assert decode_change(encode_change(change, "a1", "v1")) == ("a1", "v1", change)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"from": "a", "config_version": "v", "action": "format_disk"}',
        b'{"from": 1, "config_version": "v", "action": "reload"}',
        b'{"from": "a", "config_version": null, "action": "reload"}',
        b'{"from": "a", "config_version": "v", "action": "remove_worker"}',
        b'{"from": "a", "config_version": "v", "action": "add_worker", "worker": "w"}',
    ],
)
def test_anything_else_is_refused(raw):
    assert decode_change(raw) is None


@pytest.mark.parametrize(
    ("change", "sender_version", "own_version", "applied"),
    [
        (AdminChange("reload"), "v1", "v1", True),
        (AdminChange("reload"), "v2", "v1", True),  # a reload converges differing instances
        (ADD, "v1", "v1", True),
        (ADD, "v2", "v1", False),
        (AdminChange("remove_worker", "extra"), "v1", "v1", True),
        (AdminChange("remove_worker", "extra"), "v2", "v1", False),
    ],
)
def test_worker_changes_apply_only_on_instances_configured_like_the_sender(
    change, sender_version, own_version, applied
):
    assert should_apply(change, sender_version, own_version) is applied


def test_a_change_never_shows_its_secrets_in_its_text():
    assert "gsk-1" not in repr(ADD)
