"""One cold start: run as a fresh process. argv: handler file, handler name, event JSON file.

Prints one JSON line: init (module scope) and first-invocation seconds, the in-memory database's own
import cost (mongomock: local only, never in Lambda; subtracted by the parent), and which heavy web
modules ended up loaded. Kept tiny on purpose: everything it imports is counted. So it loads the handler and
makes its context itself rather than with parley_local.kit, which would bring PyYAML and the template reader
into the process measured.
"""

import time

T0 = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

path, func, event_file = sys.argv[1:4]
mock_cost = 0.0

if "--no-mongo" not in sys.argv:
    import parley.adapters.mongo as _mongo  # the handler imports it anyway; only the order changes

    _client_for = _mongo.client_for

    def client_for(uri):
        global mock_cost
        if uri.startswith("mongomock://") and "mongomock" not in sys.modules:
            t = time.perf_counter()
            import mongomock  # noqa: F401

            mock_cost += time.perf_counter() - t
        return _client_for(uri)

    _mongo.client_for = client_for


class Context:
    function_name = "coldstart"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:coldstart"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/coldstart"
    log_stream_name = "coldstart"

    def get_remaining_time_in_millis(self):
        return 10_000


with open(event_file) as f:
    event = json.load(f)
real_stdout = sys.stdout
sys.stdout = open("/dev/null", "w")  # Powertools' logs and EMF metrics, as Lambda would print them
T1 = time.perf_counter()
sys.path.insert(0, path.rsplit("/", 1)[0])  # the function's directory, as Lambda's /var/task: its sibling modules
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handler = getattr(module, func)
T2 = time.perf_counter()
try:
    result = handler(event, Context())
finally:
    sys.stdout = real_stdout
T3 = time.perf_counter()
heavy = sorted(m for m in ("fastapi", "mangum", "pydantic", "starlette", "anyio") if m in sys.modules)
status = result.get("statusCode") if isinstance(result, dict) else None
if status is None and isinstance(result, dict) and "policyDocument" in result:
    status = result["policyDocument"]["Statement"][0]["Effect"]
if status is None and isinstance(result, dict) and "delivered" in result:  # FanoutFunction's report
    status = f"delivered {result['delivered']}"
print("@@COLD@@", json.dumps({"init": T2 - T1, "invoke": T3 - T2, "pre": T1 - T0, "mock": mock_cost, "heavy": heavy,
                  "status": status, "modules": len(sys.modules)}), flush=True)
