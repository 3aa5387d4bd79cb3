"""Lambda's Invoke API (RequestResponse) for the template's functions: boto3's lambda client calls it."""

from __future__ import annotations

import json
from urllib.parse import unquote

from aiohttp import web

from .answers import aws_error, json_response, signature_refusal
from .lambda_runtime import InvocationError, Invoker
from .sigv4 import StackCredentials
from .template import LocalStack

PATH_PREFIX, PATH_SUFFIX = "/2015-03-31/functions/", "/invocations"
ROUTE = PATH_PREFIX + "{name}" + PATH_SUFFIX
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit


class LambdaApi:
    def __init__(self, stack: LocalStack, host: Invoker, credentials: dict[str, StackCredentials]) -> None:
        self.stack = stack
        self.host = host
        self.credentials = credentials

    def function_id(self, name: str) -> str | None:
        """The logical id for a function name, or its ARN (unqualified or $LATEST)."""
        for logical_id, spec in self.stack.functions.items():
            if name in (spec.function_name, spec.arn, f"{spec.arn}:$LATEST", f"{spec.function_name}:$LATEST"):
                return logical_id
        return None

    async def handle(self, request: web.Request) -> web.Response:
        """Invoke a function like any other invocation; its error comes back as Lambda's Unhandled function error."""
        if request.method != "POST":
            return aws_error(403, "ForbiddenException", "Missing Authentication Token")
        raw_path = request.rel_url.raw_path
        name = unquote(raw_path[len(PATH_PREFIX):-len(PATH_SUFFIX)])
        data = await request.read()
        refused = signature_refusal(
            request, data, service="lambda", missing_type="MissingAuthenticationTokenException", known=self.credentials
        )
        if refused is not None:
            return refused
        qualifier = request.rel_url.query.get("Qualifier")
        logical_id = self.function_id(name)
        if logical_id is None or qualifier not in (None, "$LATEST"):
            return aws_error(404, "ResourceNotFoundException", f"Function not found: {name}")
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type != "RequestResponse":
            return aws_error(400, "InvalidParameterValueException", "the local gateway runs RequestResponse invokes only")
        if len(data) > MAX_INVOKE_PAYLOAD_BYTES:
            return aws_error(413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
        try:
            event = json.loads(data) if data else {}
        except ValueError:
            return aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
        version = {"X-Amz-Executed-Version": "$LATEST"}
        try:
            result = await self.host.invoke(logical_id, event, invoked=True)
        except InvocationError as exc:
            body = {"errorMessage": exc.error_message, "errorType": exc.error_type}
            return json_response(200, body, {**version, "X-Amz-Function-Error": "Unhandled"})
        return web.Response(status=200, body=json.dumps(result).encode(), content_type="application/json", headers=version)
