"""WebSocket routes sendMessage, typing, join, leave, history, ping, the room actions and $default.

Parses the frame, calls one chat service, maps known errors to an error frame. Every reply goes
through the Management API (the routes have no route responses). Light at import: no FastAPI.
"""

from parley.chat import frames
from parley.chat.service import reply, require_session
from parley.config import Settings
from parley.errors import ChatError, ErrorCode
from parley.events import InvalidEvent, WebSocketEvent
from parley.observability import count_internal_error, counter, make_logger, make_metrics, tracing
from parley.runtime import ChatRuntime

settings = Settings.from_env()
logger = make_logger()
metrics = make_metrics(settings.metrics_namespace)
runtime = ChatRuntime.from_settings(settings)
traced = tracing(settings.tracing)
NOT_SIGNED_IN = ChatError(ErrorCode.INVALID_REQUEST, "this connection is not signed in; reconnect with ?token=")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@traced
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    try:
        ws = WebSocketEvent.parse(event)
    except InvalidEvent as exc:
        logger.warning("rejected a malformed event", extra={"reason": str(exc)})
        return {"statusCode": 400}
    ports = runtime.ports(ws, counter(metrics))
    echo = frames.echo_of(ws.body)
    try:
        with runtime.deadline(context):
            caller = runtime.caller(ws)
            if caller is None:
                raise NOT_SIGNED_IN
            require_session(ports, caller=caller)
            frames.dispatch(ports, caller, frames.parse(ws.body))
    except ChatError as exc:
        logger.info("request refused", extra={"code": exc.code.value, "action": echo.action})
        reply(ports, connection_id=ws.connection_id, frame=frames.refusal_frame(exc, echo))
        if exc.code is ErrorCode.SESSION_ENDED:  # told why; now the socket goes
            runtime.close(ws, [ws.connection_id])
    except Exception as exc:
        count_internal_error(exc, settings.metrics_namespace, context)
        logger.exception("message handler failed", extra={"action": echo.action})
        try:
            frame = frames.error_frame(ErrorCode.INTERNAL_ERROR, "something went wrong; try again", echo)
            reply(ports, connection_id=ws.connection_id, frame=frame)
        except Exception:  # noqa: BLE001 - the database or the socket may be what failed
            logger.exception("could not send the internal_error reply")
        return {"statusCode": 500}
    return {"statusCode": 200}
