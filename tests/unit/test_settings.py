"""Settings from FIELDSVC_* variables: values the service cannot run with are refused at start, by name."""

from __future__ import annotations

import pytest

from fieldsvc.config import Settings, SettingsError


def test_a_sweep_interval_of_zero_minutes_is_refused():
    with pytest.raises(SettingsError, match="FIELDSVC_DEADLINE_SWEEP_MINUTES"):
        Settings.from_env({"FIELDSVC_DEADLINE_SWEEP_MINUTES": "0"})


@pytest.mark.parametrize("seconds", ["0", "-1", "nan"])
def test_a_trail_check_interval_that_is_not_a_number_of_seconds_more_than_0_is_refused(seconds: str):
    with pytest.raises(SettingsError, match="FIELDSVC_TRAIL_CHECK_SECONDS"):
        Settings.from_env({"FIELDSVC_TRAIL_CHECK_SECONDS": seconds})


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf"])
def test_a_clock_transit_allowance_that_is_not_a_number_of_seconds_is_refused(seconds: str):
    with pytest.raises(SettingsError, match="FIELDSVC_CLOCK_TRANSIT_ALLOWANCE_SECONDS"):
        Settings.from_env({"FIELDSVC_CLOCK_TRANSIT_ALLOWANCE_SECONDS": seconds})


def test_a_clock_transit_allowance_of_zero_corrects_every_offset():
    assert Settings.from_env({"FIELDSVC_CLOCK_TRANSIT_ALLOWANCE_SECONDS": "0"}).clock_transit_allowance_seconds == 0


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe"])
def test_an_unknown_time_zone_is_refused(zone):
    with pytest.raises(SettingsError, match="FIELDSVC_DEFAULT_TIME_ZONE"):
        Settings.from_env({"FIELDSVC_DEFAULT_TIME_ZONE": zone})


def test_the_defaults_run_the_embedded_setup():
    settings = Settings.from_env({})
    assert settings.effective_database_url.startswith("sqlite:///") and settings.blob_backend == "local"


def test_an_unknown_auditor_place_is_refused():
    with pytest.raises(SettingsError, match="FIELDSVC_AUDITOR"):
        Settings.from_env({"FIELDSVC_AUDITOR": "elsewhere"})


def test_the_auditor_runs_in_a_process_of_its_own_on_postgresql_by_default():
    assert Settings(database_url="postgresql://db/fieldsvc").auditor_place == "process"


def test_the_auditor_shares_the_process_of_an_embedded_sqlite_database_by_default():
    assert Settings().auditor_place == "inline"


def test_an_auditor_place_given_is_kept():
    assert Settings(database_url="postgresql://db/fieldsvc", auditor="inline").auditor_place == "inline"


def test_a_restore_promise_limit_under_a_day_is_refused():
    with pytest.raises(SettingsError, match="FIELDSVC_MAX_RESTORE_PROMISE_DAYS"):
        Settings.from_env({"FIELDSVC_MAX_RESTORE_PROMISE_DAYS": "0"})


@pytest.mark.parametrize(("variable", "value"), [
    ("FIELDSVC_LOG_LEVEL", "chatty"),
    ("FIELDSVC_PORT", "99999"),
    ("FIELDSVC_PORT", "0"),
    ("FIELDSVC_S3_ENDPOINT_URL", "notaurl"),
    ("FIELDSVC_S3_ENDPOINT_URL", "http://[::1"),
    ("FIELDSVC_S3_ENDPOINT_URL", "http://minio:port"),
    ("FIELDSVC_TRAVEL_SPEED_KMH", "0"),  # divided by zero at every assignment
    ("FIELDSVC_TOKEN_TTL_MINUTES", "-5"),  # tokens expired at login
    ("FIELDSVC_TOKEN_TTL_MINUTES", "10000000000"),  # past the calendar: every login a 500
    ("FIELDSVC_MAX_UPLOAD_BYTES", "-1"),
    ("FIELDSVC_LOGIN_MAX_FAILURES", "0"),  # locked at the first wrong password
    ("FIELDSVC_LOGIN_LOCKOUT_MINUTES", "0"),  # guesses unthrottled
    ("FIELDSVC_EVIDENCE_URL_TTL_SECONDS", "0"),
    ("FIELDSVC_EVIDENCE_URL_TTL_SECONDS", "604801"),  # past what S3 signs
    ("FIELDSVC_AT_RISK_HORIZON_MINUTES", "-1"),
    ("FIELDSVC_DATABASE_URL", "postgresql://postgres@127.0.0.1:notaport/fieldsvc"),  # a traceback (a probe)
    ("FIELDSVC_DATABASE_URL", "postgresql://postgres@[::1:5432/fieldsvc"),
    ("FIELDSVC_DATABASE_URL", "sqlite:///"),
    ("FIELDSVC_SECRET_KEY", "   "),  # every write refused, the trail unsealed (a probe)
], ids=lambda value: value)
def test_a_value_the_service_cannot_run_with_is_refused_naming_its_variable(variable: str, value: str):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_every_number_setting_has_its_range_checked():
    from dataclasses import fields

    from fieldsvc.config import NUMBER_RANGES

    numbers = {spec.name for spec in fields(Settings) if spec.type in ("int", "float")}
    assert numbers - {"port", "quiet_hours_start", "quiet_hours_end"} == set(NUMBER_RANGES)


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:5432/fieldsvc", "postgres://u:p@[::1]:5432/fieldsvc?sslmode=require",
    "postgresql:///fieldsvc?host=/var/run/postgresql", "sqlite:////var/lib/fieldsvc/fieldsvc.sqlite",
    "postgresql://u@h1:5432,h2:5432/fieldsvc", "postgresql://u@db/?dbname=fieldsvc",
])
def test_database_urls_libpq_reads_are_accepted(url: str):
    assert Settings.from_env({"FIELDSVC_DATABASE_URL": url}).database_url == url


def test_a_log_level_in_lower_case_and_an_s3_endpoint_with_a_port_are_accepted():
    settings = Settings.from_env({"FIELDSVC_LOG_LEVEL": "debug", "FIELDSVC_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert (settings.log_level, settings.s3_endpoint_url) == ("debug", "http://127.0.0.1:9000")


def test_at_debug_the_s3_clients_own_debug_lines_with_request_signatures_stay_out_of_the_log():
    from fieldsvc.observability import logging_config

    assert logging_config("DEBUG")["loggers"]["botocore"]["level"] == "INFO"
    assert logging_config("WARNING")["loggers"]["botocore"]["level"] == "WARNING"


def test_at_debug_the_sqlite_drivers_statements_with_their_parameters_stay_out_of_the_log():
    from fieldsvc.observability import logging_config

    assert logging_config("DEBUG")["loggers"]["aiosqlite"]["level"] == "INFO"
