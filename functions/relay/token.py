"""The Picky Assist API token: PICKY_TOKEN locally, else the SSM SecureString PICKY_TOKEN_PARAMETER
(Powertools parameters: fetched once, cached for five minutes, so a rotated token is picked up)."""

from __future__ import annotations

from collections.abc import Callable

from relay.settings import Settings

TOKEN_CACHE_SECONDS = 300


class TokenNotConfigured(RuntimeError):
    pass


def token_provider(settings: Settings) -> Callable[[], str]:
    if settings.picky_token is not None:
        secret = settings.picky_token
        return secret.get_secret_value
    name = settings.picky_token_parameter
    if not name:
        raise TokenNotConfigured("set PICKY_TOKEN_PARAMETER (an SSM SecureString name) or, locally, PICKY_TOKEN")

    def from_ssm() -> str:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return get_parameter(name, decrypt=True, max_age=TOKEN_CACHE_SECONDS)

    return from_ssm
