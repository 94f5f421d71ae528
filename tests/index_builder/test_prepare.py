"""The index builder's pure preparation rules."""

from __future__ import annotations

import pytest

from services.common.errors import IIBError
from services.index_builder.prepare import resolve_scope


def test_a_scope_may_only_be_lowered() -> None:
    assert resolve_scope("prod", None) == "prod"
    assert resolve_scope("prod", "dev") == "dev"
    with pytest.raises(IIBError, match='Cannot set "distribution_scope" to prod because'):
        resolve_scope("stage", "prod")


def test_an_unknown_scope_label_on_the_index_is_named() -> None:
    with pytest.raises(IIBError) as error:
        resolve_scope("production", "dev")
    assert str(error.value) == (
        "The from_index has an unknown com.redhat.index.delivery.distribution_scope label value "
        "'production': it must be one of dev, stage, prod"
    )
