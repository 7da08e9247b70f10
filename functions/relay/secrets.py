"""Secrets: a local value from the environment, else an SSM SecureString (Powertools parameters,
fetched once and cached for five minutes, so a rotated secret is picked up). Never logged.

The relay's three secrets (the Picky Assist token, the API's signing secret, the vendor events
secret) and the webhook routes' secrets (relay.hook_verify; one reader for every route) are
provided by relay.wiring's Container, each once per container with the rest of a handler's
collaborators; the SSM provider and its client are made with it, and the first fetch
waits for the first call."""

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

    read = parameter_reader()
    return lambda: read(parameter)


def parameter_reader() -> Callable[[str], str]:
    """Reads SSM SecureStrings by name (decrypted; each cached CACHE_SECONDS): one provider and
    client, made when called (only where secrets live in SSM: a local run never loads it)."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from relay.aws import client

    ssm = SSMProvider(boto3_client=client("ssm"))

    def from_ssm(parameter: str) -> str:
        return str(ssm.get(parameter, decrypt=True, max_age=CACHE_SECONDS))

    return from_ssm
