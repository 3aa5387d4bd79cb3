"""Reads the stack's secrets from AWS Secrets Manager: the JWT signing key and the MongoDB URI.

Callers read them at module scope of a handler, so each is read once per container.
"""

from __future__ import annotations

from parley.config import ConfigurationError, Settings, check_mongodb_uri


def read_secret(secret_id: str) -> str:
    import boto3  # here, so a function that reads no secret does not import boto3 for it

    client = boto3.client("secretsmanager")
    return client.get_secret_value(SecretId=secret_id)["SecretString"]


def mongodb_uri(settings: Settings) -> str:
    """The MongoDB URI: ``MONGODB_URI`` when given (local mode, tests), else the value of the secret
    ``MONGODB_URI_SECRET_ARN`` names (the URI itself, as plain text). Raises ``ConfigurationError`` when
    neither is set or the secret does not hold a MongoDB URI (the message never contains the value)."""
    if settings.mongodb_uri:
        return settings.mongodb_uri
    if not settings.mongodb_uri_secret_arn:
        raise ConfigurationError("set MONGODB_URI_SECRET_ARN (the stack's secret) or, locally, MONGODB_URI")
    uri = read_secret(settings.mongodb_uri_secret_arn).strip()
    try:
        check_mongodb_uri(uri, local=settings.local)
    except ConfigurationError:
        raise ConfigurationError(
            "the secret MONGODB_URI_SECRET_ARN names must hold a mongodb:// or mongodb+srv:// URI as plain text"
        ) from None
    return uri
