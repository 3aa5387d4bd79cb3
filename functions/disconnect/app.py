"""$disconnect (best effort in API Gateway): forget the connection and announce who went offline."""

from parley.chat import service
from parley.config import Settings
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
    try:
        with runtime.deadline(context):
            service.disconnect(runtime.ports(ws, counter(metrics)), connection_id=ws.connection_id)
    except Exception as exc:
        count_internal_error(exc, settings.metrics_namespace, context)
        logger.exception("could not remove the connection", extra={"connection_id": ws.connection_id})
        return {"statusCode": 500}
    logger.info("disconnected", extra={"status": ws.request_context.get("disconnectStatusCode")})
    return {"statusCode": 200}
