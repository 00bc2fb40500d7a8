"""TEAM_CHANNELS_URL, RELEASE_URL and RELEASE_API_TOKEN (section 2): optional, validated, the token never shown."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings

TOKEN = "release-api-token-0123456789abcdef"


def problems_for(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_settings(env, require_serve=False)
    return error.value.problems


def test_all_three_are_off_by_default() -> None:
    settings = load_settings({}, require_serve=False)
    assert settings.team_channels_url == "" and settings.release_url == ""
    assert not settings.release_api_token


def test_they_are_read_and_the_token_is_never_shown() -> None:
    settings = load_settings(
        {
            "TEAM_CHANNELS_URL": "https://docs.publishing.service.gov.uk/repos.json",
            "RELEASE_URL": "https://release.publishing.service.gov.uk/",
            "RELEASE_API_TOKEN": TOKEN,
        },
        require_serve=False,
    )
    assert settings.team_channels_url == "https://docs.publishing.service.gov.uk/repos.json"
    assert settings.release_url == "https://release.publishing.service.gov.uk"
    assert settings.release_api_token.reveal() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


@pytest.mark.parametrize("name", ["TEAM_CHANNELS_URL", "RELEASE_URL"])
@pytest.mark.parametrize("value", ["docs.publishing.service.gov.uk/repos.json", "ftp://x/repos.json", "https://"])
def test_a_url_that_is_not_http_is_one_plain_line(name: str, value: str) -> None:
    env = {name: value, "RELEASE_API_TOKEN": TOKEN} if name == "RELEASE_URL" else {name: value}
    [problem] = problems_for(env)
    assert problem.startswith(f"{name} must be an http(s) URL")


def test_the_release_url_and_its_token_come_together() -> None:
    [problem] = problems_for({"RELEASE_URL": "https://release.example"})
    assert "RELEASE_API_TOKEN is not" in problem
    [problem] = problems_for({"RELEASE_API_TOKEN": TOKEN})
    assert "RELEASE_URL is not" in problem and TOKEN not in problem
