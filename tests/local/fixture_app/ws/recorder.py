"""Sibling module: appends events to the JSON-lines file named by EVENT_LOG (tests read it)."""

import json
import os
import threading

_lock = threading.Lock()


def record(kind, event, context):
    path = os.environ.get("EVENT_LOG")
    if not path:
        return
    line = json.dumps({"kind": kind, "event": event, "function": context.function_name,
                       "remaining_ms": context.get_remaining_time_in_millis(),
                       "memory": context.memory_limit_in_mb, "request_id": context.aws_request_id})
    with _lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
