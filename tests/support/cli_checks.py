"""What every CLI error must look like: one line, `error: ...`, the right exit code, no
traceback."""

from __future__ import annotations


def one_clear_line(result, code: int, *words: str) -> None:
    """``result`` (click's CliRunner result) failed with ``code`` and one error line holding
    ``words``."""
    assert result.exit_code == code, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for w in words:
        assert w in err[0]
