"""$connect: register the connection of the user the REQUEST authorizer let in."""

from parley.chat import service
from parley.config import Settings
from parley.errors import SessionEnded, TooManyConnections
from parley.events import InvalidEvent, WebSocketEvent
from parley.observability import count_internal_error, counter, make_logger, make_metrics, tracing
from parley.runtime import ChatRuntime

settings = Settings.from_env()
logger = make_logger()
metrics = make_metrics(settings.metrics_namespace)
runtime = ChatRuntime.from_settings(settings)
traced = tracing(settings.tracing)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@traced
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    try:
        ws = WebSocketEvent.parse(event)
    except InvalidEvent as exc:
        logger.warning("rejected a malformed event", extra={"reason": str(exc)})
        return {"statusCode": 400}
    caller = ws.caller  # $connect: only the authorizer can vouch for the user
    if caller is None:
        logger.warning("$connect without an authorizer context", extra={"connection_id": ws.connection_id})
        return {"statusCode": 401}
    try:
        with runtime.deadline(context):
            service.connect(runtime.ports(ws, counter(metrics)), caller=caller)
    except SessionEnded:  # ended between the authorizer and here: refused as the authorizer now would (Deny)
        logger.info("connection refused: the session ended", extra={"connection_id": ws.connection_id})
        metrics.add_metric(name="ConnectionsRefused", unit="Count", value=1)
        return {"statusCode": 403}
    except TooManyConnections as exc:  # API Gateway refuses the handshake with this status
        logger.info("connection refused", extra={"reason": str(exc), "connection_id": ws.connection_id})
        metrics.add_metric(name="ConnectionsRefused", unit="Count", value=1)
        return {"statusCode": 429, "body": str(exc)}
    except Exception as exc:
        count_internal_error(exc, settings.metrics_namespace, context)
        logger.exception("could not register the connection", extra={"connection_id": ws.connection_id})
        return {"statusCode": 500}
    metrics.add_metric(name="Connections", unit="Count", value=1)
    return {"statusCode": 200}
