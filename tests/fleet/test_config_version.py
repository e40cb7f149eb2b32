"""Instances configured alike report one configuration version, wherever each listens."""

from __future__ import annotations

import dataclasses

from cortex.config.settings import Settings
from cortex.fleet.instances import config_version


def test_where_an_instance_listens_and_its_database_file_do_not_change_its_version() -> None:
    here = Settings()
    there = dataclasses.replace(here, host="0.0.0.0", port=4100, db="/var/lib/cortex/b.db")
    assert config_version(there) == config_version(here)


def test_a_setting_that_shapes_answers_changes_the_version() -> None:
    here = Settings()
    assert config_version(dataclasses.replace(here, max_messages=7)) != config_version(here)
