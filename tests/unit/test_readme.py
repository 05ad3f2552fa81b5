"""The README's settings table is the settings class; `.env.example` names real settings."""

import re

from src.config import Settings, settings_reference
from src.migrations import PROJECT_ROOT


def test_readme_configuration_table_matches_settings() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(r"<!-- settings:start -->\n(.*?)\n<!-- settings:end -->", readme, re.DOTALL)
    assert match, "README lacks the settings markers"
    assert match.group(1) == settings_reference(), "run `python -m src.cli settings` into README"


def test_env_example_names_only_real_settings() -> None:
    names = {name.upper() for name in Settings.model_fields}
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    used = {line.lstrip("# ").split("=", 1)[0] for line in lines if re.match(r"#? ?[A-Z_]+=", line)}
    assert used
    assert used <= names, used - names
