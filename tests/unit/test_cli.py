"""The command line refuses arguments it cannot act on with a usage error, before touching any database."""

from __future__ import annotations

import asyncpg
import pytest

from fieldsvc.cli import main


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--from", "0001-01-01"], "0001-01-01 is outside 1900-01-01 to 9998-12-31"),
        (["--to", "9999-12-31"], "9999-12-31 is outside"),
        (["--from", "2026-02-30"], "'2026-02-30' is not a date"),
        (["--from", "2026-12-10", "--to", "2026-12-01"], "--from 2026-12-10 is after --to 2026-12-01"),
    ],
    ids=["year-1", "year-9999", "no-such-day", "from-after-to"],
)
def test_audit_rerun_dates_it_cannot_use_are_a_usage_error(arguments, said, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exited:
        main(["audit", "rerun", *arguments])

    assert exited.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("minutes", ["-100", "0", "9"])
def test_blobs_cleanup_refuses_a_grace_that_would_delete_the_blobs_of_photos_being_stored(minutes, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exited:
        main(["blobs", "cleanup", "--grace-minutes", minutes])

    assert exited.value.code == 2
    assert "a photo being stored now would lose its blobs" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "99999", "http"])
def test_serve_refuses_a_port_that_is_no_port_number(port, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", port])

    assert exited.value.code == 2
    assert "port number" in capsys.readouterr().err


def test_a_configuration_value_that_cannot_be_used_ends_the_command_with_one_line_naming_it(
    capsys, monkeypatch
) -> None:  # noqa: ANN001
    monkeypatch.setenv("FIELDSVC_TOKEN_TTL_MINUTES", "abc")

    assert main(["migrate"]) == 2
    said = capsys.readouterr().err
    assert said.strip() == "fieldsvc migrate: configuration: FIELDSVC_TOKEN_TTL_MINUTES: 'abc' is not a valid int"


def test_a_long_jobs_count_written_to_a_log_file_is_a_line_every_thousand_not_one_endless_line(capsys) -> None:  # noqa: ANN001
    from fieldsvc.cli import Counter

    count = Counter("scanned {} blobs")
    for done in range(1, 2501):
        count(done)

    assert capsys.readouterr().err.splitlines() == ["scanned 1000 blobs", "scanned 2000 blobs"]


def test_a_progress_bar_written_to_a_log_file_is_a_line_at_its_start_and_each_tenth_of_the_way(capsys) -> None:  # noqa: ANN001
    from fieldsvc.cli import ProgressBar

    bar = ProgressBar(200, "re-auditing")
    for done in range(1, 201):
        bar(done)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[0].endswith(" 1/200") and lines[-1].endswith("200/200")


@pytest.mark.parametrize(("error", "unreachable"), [
    (ConnectionRefusedError(111, "Connect call failed"), "the database (ConnectionRefusedError)"),
    (TimeoutError(), "the database (TimeoutError)"),
    (PermissionError(13, "Permission denied: 'mobile_api_spec/openapi.json'"), None),
    (asyncpg.DeadlockDetectedError("deadlock detected"), None),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "")
def test_only_a_database_out_of_reach_is_reported_as_an_outage(error, unreachable) -> None:  # noqa: ANN001
    from fieldsvc.cli import _unavailable

    assert _unavailable(error) == unreachable
