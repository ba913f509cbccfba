"""A Ctrl-C that lands where CPython records no line number is still reported as an interruption
(fixtures/interrupts.py), not as pytest's internal error."""

from __future__ import annotations

import sys
from types import TracebackType

import pytest

from fixtures.interrupts import drop_unnumbered_frames


def _interrupt_without_a_line_number() -> pytest.ExceptionInfo:
    try:
        raise KeyboardInterrupt("signal 2")
    except KeyboardInterrupt as exc:
        # What a signal landing mid-instruction leaves: an entry whose tb_lineno is None.
        exc.__traceback__ = TracebackType(exc.__traceback__, sys._getframe(), 10**6, -1)
        return pytest.ExceptionInfo.from_exception(exc)


def test_pytest_cannot_render_such_an_interrupt_as_it_comes():
    excinfo = _interrupt_without_a_line_number()
    assert excinfo.value.__traceback__.tb_lineno is None
    with pytest.raises(TypeError):
        excinfo.getrepr(funcargs=True)


def test_without_the_unnumbered_entries_it_renders_with_the_rest_of_the_traceback():
    excinfo = _interrupt_without_a_line_number()
    drop_unnumbered_frames(excinfo)
    text = str(excinfo.getrepr(funcargs=True))
    assert "KeyboardInterrupt: signal 2" in text and "_interrupt_without_a_line_number" in text
