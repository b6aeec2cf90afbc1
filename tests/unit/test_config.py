import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.config import Settings, override_settings, reset_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_prefects():
    s = Settings()
    assert (s.scheduler_min_runs, s.scheduler_max_runs) == (3, 100)
    assert s.min_scheduled_time == timedelta(hours=1)
    assert s.max_scheduled_time == timedelta(days=100)
    assert s.tables_prefix == "cirrus-local-"


def test_from_env_reads_typed_values_and_stage_prefix():
    s = Settings.from_env(
        {
            "CIRRUS_STAGE": "prod",
            "CIRRUS_SCHEDULER_MIN_RUNS": "5",
            "CIRRUS_AUTH_REQUIRED": "true",
            "CIRRUS_DYNAMODB_ENDPOINT": "",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert s.stage == "prod" and s.tables_prefix == "cirrus-prod-"
    assert s.scheduler_min_runs == 5 and s.auth_required is True
    assert s.dynamodb_endpoint is None and s.region == "eu-west-1"


def test_the_zombie_threshold_is_missed_heartbeats_times_the_frequency_unless_given():
    assert Settings().zombie_threshold_s == 3 * 180.0  # Prefect's default heartbeat frequency
    fast = Settings.from_env({"CIRRUS_HEARTBEAT_FREQUENCY_S": "30"})
    assert fast.zombie_threshold_s == 90.0
    given = Settings.from_env({"CIRRUS_HEARTBEAT_FREQUENCY_S": "30", "CIRRUS_ZOMBIE_THRESHOLD_S": "600"})
    assert given.zombie_threshold_s == 600
    try:
        assert override_settings(Settings(), heartbeat_frequency_s=60.0).zombie_threshold_s == 180.0  # derived again
        assert override_settings(Settings(zombie_threshold_s=42.0), heartbeat_frequency_s=60.0).zombie_threshold_s == 42
    finally:
        reset_settings()


def test_bad_values_name_the_variable():
    with pytest.raises(ValueError, match="CIRRUS_SCHEDULER_MIN_RUNS"):
        Settings.from_env({"CIRRUS_SCHEDULER_MIN_RUNS": "many"})


def test_importing_the_app_reads_no_settings_and_creates_no_client():
    code = (
        "import app, chalicelib.config as c, chalicelib.storage.models as m;"
        "assert c._current is None, 'settings read at import';"
        "assert all(x._connection is None for x in m.ALL_MODELS), 'client created at import'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
