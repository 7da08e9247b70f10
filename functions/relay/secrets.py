"""Secrets: a local value from the environment, else an SSM SecureString (Powertools parameters,
fetched once and cached for five minutes, so a rotated secret is picked up). Never logged."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

CACHE_SECONDS = 300


class SecretNotConfigured(RuntimeError):
    pass


def secret_provider(local: SecretStr | None, parameter: str | None, what: str) -> Callable[[], str]:
    if local is not None:
        return local.get_secret_value
    if not parameter:
        raise SecretNotConfigured(f"{what}: set its SSM parameter name (or, locally, the value itself)")

    def from_ssm() -> str:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return get_parameter(parameter, decrypt=True, max_age=CACHE_SECONDS)

    return from_ssm
