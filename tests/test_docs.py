"""The generated configuration reference is current, and every setting is documented."""

from __future__ import annotations

from pathlib import Path

import attrs

from autovoice.config import Config
from autovoice.config.reference import builtin_plugin_options, render_reference

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_reference_is_current():
    expected = render_reference(builtin_plugin_options())
    actual = (ROOT / "docs" / "configuration.md").read_text()
    assert actual == expected, (
        "docs/configuration.md is stale: run `nox -s docs` "
        "(or python -m autovoice.config.reference > docs/configuration.md)"
    )


def test_every_setting_has_a_doc():
    for section in attrs.fields(Config):
        assert section.metadata.get("doc"), f"section {section.name} has no doc"
        for field in attrs.fields(section.type):
            assert len(field.metadata.get("doc", "")) > 10, (
                f"{section.name}.{field.name} has no doc"
            )


def test_plugin_options_are_documented():
    page = (ROOT / "docs" / "configuration.md").read_text()
    for kind, name, options_type in builtin_plugin_options():
        assert f"## `{name} options`" in page
        for field in attrs.fields(options_type):
            assert field.metadata.get("doc"), f"{kind} {name}: option {field.name} has no doc"
