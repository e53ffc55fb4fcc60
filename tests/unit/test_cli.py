"""The command line refuses arguments it cannot act on with a usage error, before touching any database."""

from __future__ import annotations

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
