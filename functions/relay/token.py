"""The Picky Assist API token: PICKY_TOKEN locally, else the SSM SecureString PICKY_TOKEN_PARAMETER."""

from __future__ import annotations

from collections.abc import Callable

from relay.secrets import secret_provider
from relay.settings import Settings


def token_provider(settings: Settings) -> Callable[[], str]:
    return secret_provider(settings.picky_token, settings.picky_token_parameter, "PICKY_TOKEN")
