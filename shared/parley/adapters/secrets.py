"""Reads the JWT signing key from AWS Secrets Manager (once per container)."""

from __future__ import annotations

import boto3


def read_secret(secret_id: str) -> str:
    client = boto3.client("secretsmanager")
    return client.get_secret_value(SecretId=secret_id)["SecretString"]
