from __future__ import annotations

import pytest

from zenopt.report.format import format_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (True, "yes"),
        (1199882, "1,199,882"),
        (33550.4, "33,550"),
        (2926.2, "2,926"),
        (935.12, "935.1"),
        (0.35531, "0.3553"),
        (7.63e-06, "7.63e-06"),
        (0.0, "0"),
        ("<b>", "<b>"),  # escaping is the template's job (autoescape), not the formatter's
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text
