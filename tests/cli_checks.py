"""Shared assertion for CLI tests: bad input ends in one clear error line, exit code 2, no traceback."""

from __future__ import annotations


def one_error_line(result, *needles: str) -> str:
    """Assert a typer ``CliRunner`` result is one ``glacierinv: error:`` line containing ``needles``."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("glacierinv: error:"), result.output
    assert "Traceback" not in result.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]
