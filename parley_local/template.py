"""Read a SAM template into the stack the local gateway serves (``read_stack`` → ``LocalStack``).

This module knows the few resource types a serverless WebSocket + HTTP API stack uses: functions, the
WebSocket API with its routes and authorizer, HTTP API routes and their CORS. The language itself (tags,
intrinsic functions, parameters, conditions) is cloudformation.py's. It knows nothing about what the
functions do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cloudformation import IMPLICIT_HTTP_API, Resolver, TemplateError, load_template
from .cors import CorsConfig

# ---------------------------------------------------------------------------- model


@dataclass
class FunctionSpec:
    logical_id: str
    function_name: str
    arn: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: float
    memory_size: int
    environment: dict[str, str]
    layers: list[Path] = field(default_factory=list)


@dataclass
class AuthorizerSpec:
    logical_id: str
    authorizer_id: str
    function_id: str
    identity_sources: list[str]
    authorizer_type: str


@dataclass
class WebSocketRouteSpec:
    route_key: str
    function_id: str
    authorizer: AuthorizerSpec | None
    has_route_response: bool = False


@dataclass
class WebSocketApiSpec:
    logical_id: str
    api_id: str
    route_selection_expression: str
    stage: str
    routes: dict[str, WebSocketRouteSpec]


@dataclass
class HttpRouteSpec:
    api_logical_id: str
    method: str  # upper case, or ANY
    path: str  # "/rooms/{room}", "/{proxy+}", or "$default"
    function_id: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass
class CacheBehavior:
    """One of a CloudFront distribution's cache behaviors, as far as serving locally goes."""

    path_pattern: str  # "*" for the default behavior
    to_bucket: bool  # its origin is the page's bucket (else the HTTP API)
    allowed_methods: frozenset[str]
    headers: dict[str, str]  # what its response headers policy adds (values may name the stack's URLs)
    # what reaches its origin (the HTTP API): the viewer headers its policies forward (lower case; None: every
    # one, as the managed AllViewer* origin request policies, or policies this gateway cannot read), whether it
    # adds CloudFront-Viewer-Address, and the origin's custom headers (values may hold {{resolve:secretsmanager:}})
    forwarded_headers: frozenset[str] | None = None
    viewer_address: bool = False
    origin_headers: dict[str, str] = field(default_factory=dict)

    def matches(self, path: str) -> bool:
        """CloudFront's path pattern: ``*`` any characters (``/`` too), ``?`` one; case-sensitive, whole path."""
        pattern = self.path_pattern if self.path_pattern.startswith(("/", "*")) else "/" + self.path_pattern
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, path, re.DOTALL) is not None


@dataclass
class PageSpec:
    """A CloudFront distribution in front of the page's bucket (whose Metadata names the source directory)
    and the HTTP API: the first behavior whose pattern matches a path serves it, else the default one."""

    logical_id: str
    domain: str  # the distribution's (fake) DomainName, which the template's URLs name
    source: Path | None  # the bucket's LocalGateway: PageSource directory
    default_root_object: str | None
    behaviors: list[CacheBehavior]
    default: CacheBehavior
    # the ARN of each secret whose Metadata names the functions' environment variable that holds its value locally
    # ({LocalGateway: {ValueFromEnvironment: NAME}}): what a {{resolve:secretsmanager:ARN...}} in the distribution
    # resolves to here
    secret_env: dict[str, str] = field(default_factory=dict)

    def behavior_for(self, path: str) -> CacheBehavior:
        return next((b for b in self.behaviors if b.matches(path)), self.default)


@dataclass
class LocalStack:
    """What the template declares, resolved to local values."""

    template_path: Path
    functions: dict[str, FunctionSpec]
    websocket_api: WebSocketApiSpec | None
    http_routes: list[HttpRouteSpec]
    http_api_ids: dict[str, str]
    warnings: list[str]
    http_cors: dict[str, CorsConfig] = field(default_factory=dict)  # HttpApi logical id -> its CorsConfiguration
    # custom resources the gateway runs (a Create) before it serves, as CloudFormation runs them at deploy:
    # (the resource's logical id, its provider function's logical id, its resolved properties)
    run_at_start: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    page: PageSpec | None = None  # a CloudFront distribution in front of the HTTP API (and the page's bucket)


# ---------------------------------------------------------------------------- reading the stack


def _merge_globals(globals_: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    merged = dict(globals_)
    for key, value in props.items():
        if key == "Environment" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            variables = dict((merged[key] or {}).get("Variables") or {})
            variables.update(value.get("Variables") or {})
            merged[key] = {"Variables": variables}
        else:
            merged[key] = value
    return merged


def _function_from_arn(arn: str, by_arn: dict[str, str], where: str) -> str:
    for function_arn, logical_id in by_arn.items():
        if function_arn in arn:
            return logical_id
    raise TemplateError(f"{where}: {arn!r} does not point at a Lambda function of this template")


def _custom_resource_providers(resources: dict[str, Any]) -> set[str]:
    """The functions named by a custom resource's ServiceToken (!GetAtt F.Arn): CloudFormation runs them at deploy."""
    providers = set()
    for resource in resources.values():
        token = ((resource.get("Properties") or {}) if isinstance(resource, dict) else {}).get("ServiceToken")
        if isinstance(token, dict) and "Fn::GetAtt" in token:
            target = token["Fn::GetAtt"]
            providers.add(str(target.split(".", 1)[0] if isinstance(target, str) else target[0]))
    return providers


RUN_AT_START = "RunAtStart"  # Metadata: {LocalGateway: RunAtStart} on a custom resource


def _run_at_start(resources: dict[str, Any], resolver: Resolver) -> list[tuple[str, str, dict[str, Any]]]:
    """The custom resources marked ``Metadata: {LocalGateway: RunAtStart}`` whose ServiceToken is !GetAtt F.Arn:
    the gateway loads F (even an AWS::Lambda::Function) and sends it a Create before serving. Other custom
    resources (ApiGatewayLogRoleCheck: an AWS account setting) have no local meaning and are not run."""
    found = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or (resource.get("Metadata") or {}).get("LocalGateway") != RUN_AT_START:
            continue
        props = dict(resource.get("Properties") or {})
        token = props.get("ServiceToken")
        target = token.get("Fn::GetAtt") if isinstance(token, dict) else None
        if target is None:
            raise TemplateError(f"{logical_id}: a RunAtStart custom resource needs ServiceToken: !GetAtt <Function>.Arn")
        provider = str(target.split(".", 1)[0] if isinstance(target, str) else target[0])
        found.append((logical_id, provider, resolver.resolve(props)))
    return found


def read_stack(
    template_path: str | Path,
    parameter_overrides: dict[str, str] | None = None,
    *,
    stack_name: str = "local-stack",
) -> LocalStack:
    """Read the template into a LocalStack (functions, the WebSocket API, the HTTP API routes)."""
    template_path = Path(template_path).resolve()
    base_dir = template_path.parent
    template = load_template(template_path)
    resolver = Resolver(template, parameter_overrides, stack_name=stack_name)
    # resources whose Condition is false do not exist
    resolver.resources = {
        lid: r
        for lid, r in resolver.resources.items()
        if not isinstance(r, dict) or "Condition" not in r or resolver.condition(str(r["Condition"]))
    }
    resources = resolver.resources
    warnings: list[str] = []
    function_globals = ((template.get("Globals") or {}).get("Function")) or {}

    # layers: their content directory goes on sys.path, as /opt/python does in Lambda
    layer_dirs: dict[str, Path] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            content = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content, str):
                layer_dirs[str(resolver.ref(logical_id))] = (base_dir / content).resolve()

    functions: dict[str, FunctionSpec] = {}
    by_arn: dict[str, str] = {}
    providers = _custom_resource_providers(resources)  # deploy-time functions: nothing to serve, nothing to warn
    run_at_start = _run_at_start(resources, resolver)
    started_by = {provider for _, provider, _ in run_at_start}
    for logical_id, resource in resources.items():
        plain = resource.get("Type") == "AWS::Lambda::Function" and logical_id in started_by
        if resource.get("Type") != "AWS::Serverless::Function" and not plain:
            if resource.get("Type") == "AWS::Lambda::Function" and logical_id not in providers:
                warnings.append(f"{logical_id}: AWS::Lambda::Function is not served locally (use AWS::Serverless::Function)")
            continue
        if plain:  # no Globals; Code is its CodeUri
            props = resolver.resolve(dict(resource.get("Properties") or {}))
            props["CodeUri"] = props.get("Code")
        else:
            props = resolver.resolve(_merge_globals(function_globals, resource.get("Properties") or {}))
        code_uri = props.get("CodeUri")
        handler = props.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise TemplateError(f"{logical_id}: CodeUri and Handler must be strings (inline code is not supported)")
        code_dir = (base_dir / code_uri).resolve()
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        environment = {str(k): _env_string(v) for k, v in variables.items()}
        layers = [layer_dirs[str(arn)] for arn in props.get("Layers") or [] if str(arn) in layer_dirs]
        spec = FunctionSpec(
            logical_id=logical_id,
            function_name=resolver.function_name(logical_id),
            arn=str(resolver.get_att(logical_id, "Arn")),
            code_uri=code_dir,
            handler=handler,
            runtime=str(props.get("Runtime", "python3.12")),
            timeout=float(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            environment=environment,
            layers=layers,
        )
        functions[logical_id] = spec
        by_arn[spec.arn] = logical_id

    websocket_api = _read_websocket_api(resolver, by_arn, warnings)
    http_routes, http_api_ids = _read_http_routes(resolver, resources, warnings)
    http_cors = {}
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Serverless::HttpApi":
            try:
                declared = {"CorsConfiguration": (r.get("Properties") or {}).get("CorsConfiguration")}
                cors = CorsConfig.from_template(resolver.resolve(declared).get("CorsConfiguration"))  # !Ref AWS::NoValue: none
            except (TypeError, ValueError) as exc:
                raise TemplateError(f"{lid}.CorsConfiguration: {exc}") from exc
            if cors is not None:
                http_cors[lid] = cors
    return LocalStack(
        template_path=template_path,
        functions=functions,
        websocket_api=websocket_api,
        http_routes=http_routes,
        http_api_ids=http_api_ids,
        warnings=warnings,
        run_at_start=[r for r in run_at_start if r[1] in functions],
        http_cors=http_cors,
        page=_read_distribution(resolver, base_dir, warnings),
    )


PAGE_SOURCE = "PageSource"  # Metadata: {LocalGateway: {PageSource: <dir>}} on the page's bucket
SECRET_FROM_ENV = "ValueFromEnvironment"  # Metadata: {LocalGateway: {ValueFromEnvironment: NAME}} on a secret
_ALL_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"})


def _names(value: Any, logical_id: str) -> bool:
    """Whether a (raw) template value refers to the resource: !Ref, !GetAtt or ${...} in a !Sub."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and att and att[0] == logical_id:
            return True
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str) and re.search(r"\$\{" + re.escape(logical_id) + r"[.}]", text):
            return True
        return any(_names(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, logical_id) for v in value)
    return False


def _policy_headers(resolver: Resolver, policy_ref: Any, where: str, warnings: list[str]) -> dict[str, str]:
    """The headers a response headers policy of the template adds (a managed policy's id: none, with a warning)."""
    if policy_ref is None:
        return {}
    target = policy_ref.get("Ref") if isinstance(policy_ref, dict) else None
    resource = resolver.resources.get(str(target)) if target else None
    if not resource or resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
        warnings.append(f"{where}: response headers policy {policy_ref!r} is not the template's; its headers are not added locally")
        return {}
    config = resolver.resolve((resource.get("Properties") or {}).get("ResponseHeadersPolicyConfig") or {})
    security = config.get("SecurityHeadersConfig") or {}
    headers: dict[str, str] = {}
    if "ContentSecurityPolicy" in security:
        headers["Content-Security-Policy"] = str(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    if "ContentTypeOptions" in security:
        headers["X-Content-Type-Options"] = "nosniff"
    if "ReferrerPolicy" in security:
        headers["Referrer-Policy"] = str(security["ReferrerPolicy"]["ReferrerPolicy"])
    if "FrameOptions" in security:
        headers["X-Frame-Options"] = str(security["FrameOptions"]["FrameOption"])
    if "StrictTransportSecurity" in security:
        hsts = security["StrictTransportSecurity"]
        headers["Strict-Transport-Security"] = f"max-age={hsts['AccessControlMaxAgeSec']}" + (
            "; includeSubDomains" if hsts.get("IncludeSubdomains") else "") + ("; preload" if hsts.get("Preload") else "")
    for item in (config.get("CustomHeadersConfig") or {}).get("Items") or []:
        headers[str(item["Header"])] = str(item["Value"])
    return headers


def _read_distribution(resolver: Resolver, base_dir: Path, warnings: list[str]) -> PageSpec | None:
    """The template's CloudFront distribution: which paths its behaviors send to the page's bucket (the bucket
    whose Metadata names a PageSource directory) and which to the HTTP API, and the headers each adds."""
    resources = resolver.resources
    distributions = [lid for lid, r in resources.items() if r.get("Type") == "AWS::CloudFront::Distribution"]
    if not distributions:
        return None
    if len(distributions) > 1:
        warnings.append(f"several CloudFront distributions; only {distributions[0]} is served locally")
    lid = distributions[0]
    buckets = {
        b: base_dir / str(r["Metadata"]["LocalGateway"][PAGE_SOURCE])
        for b, r in resources.items()
        if r.get("Type") == "AWS::S3::Bucket"
        and isinstance((r.get("Metadata") or {}).get("LocalGateway"), dict)
        and PAGE_SOURCE in r["Metadata"]["LocalGateway"]
    }
    config = (resources[lid].get("Properties") or {}).get("DistributionConfig") or {}
    origins: dict[str, Path | None] = {}  # origin id -> the page's source directory, None for the HTTP API
    custom_headers: dict[str, dict[str, str]] = {}  # origin id -> its OriginCustomHeaders
    for origin in config.get("Origins") or []:
        bucket = next((b for b in buckets if _names(origin.get("DomainName"), b)), None)
        origins[str(origin.get("Id"))] = buckets[bucket].resolve() if bucket else None
        custom_headers[str(origin.get("Id"))] = {
            str(h["HeaderName"]): str(resolver.resolve(h["HeaderValue"])) for h in origin.get("OriginCustomHeaders") or []
        }
        if bucket is None and "S3OriginConfig" in origin:
            warnings.append(f"{lid}: origin {origin.get('Id')} is a bucket with no Metadata LocalGateway: {PAGE_SOURCE}")

    def behavior(raw: dict[str, Any], pattern: str, where: str) -> CacheBehavior:
        target = str(raw.get("TargetOriginId"))
        if target not in origins:
            raise TemplateError(f"{where}: TargetOriginId {target} is not one of the distribution's origins")
        methods = frozenset(str(m) for m in resolver.resolve(raw.get("AllowedMethods") or ["GET", "HEAD"]))
        headers = _policy_headers(resolver, raw.get("ResponseHeadersPolicyId"), where, warnings)
        forwarded, viewer_address = _forwarded_headers(resolver, raw)
        return CacheBehavior(pattern, origins[target] is not None, methods & _ALL_METHODS, headers,
                             forwarded, viewer_address, custom_headers[target])

    behaviors = [
        behavior(b, str(resolver.resolve(b.get("PathPattern"))), f"{lid}.CacheBehaviors[{i}]")
        for i, b in enumerate(config.get("CacheBehaviors") or [])
    ]
    default = behavior(config.get("DefaultCacheBehavior") or {}, "*", f"{lid}.DefaultCacheBehavior")
    sources = {p for p in origins.values() if p is not None}
    root = config.get("DefaultRootObject")
    secret_env = {
        str(resolver.ref(s)): str(r["Metadata"]["LocalGateway"][SECRET_FROM_ENV])
        for s, r in resources.items()
        if r.get("Type") == "AWS::SecretsManager::Secret"
        and isinstance((r.get("Metadata") or {}).get("LocalGateway"), dict)
        and SECRET_FROM_ENV in r["Metadata"]["LocalGateway"]
    }
    return PageSpec(
        logical_id=lid,
        domain=str(resolver.get_att(lid, "DomainName")),
        source=next(iter(sources)) if sources else None,
        default_root_object=str(resolver.resolve(root)) if root else None,
        behaviors=behaviors,
        default=default,
        secret_env=secret_env,
    )


# the managed origin request policies that forward every viewer header (AllViewer, AllViewerExceptHostHeader,
# AllViewerAndCloudFrontHeaders-2022-06, which adds CloudFront-Viewer-Address too)
_ALL_VIEWER_POLICIES = {
    "216adef6-5c7f-47e4-b989-5492eafa07d3": False,
    "b689b0a8-53d0-40ab-baf2-68738e2966ac": False,
    "33f36d7e-f396-46d9-90e0-52428a34d9dc": True,
}
VIEWER_ADDRESS = "cloudfront-viewer-address"


def _forwarded_headers(resolver: Resolver, raw: dict[str, Any]) -> tuple[frozenset[str] | None, bool]:
    """The viewer headers a behavior forwards to its origin (lower case; None for every one) and whether it adds
    CloudFront-Viewer-Address: its cache policy's key headers plus its origin request policy's headers. Only a
    policy of the template is read (a managed AllViewer* one forwards everything); without one, every header is
    forwarded, as this gateway always did."""
    policy_ref = raw.get("OriginRequestPolicyId")
    policy_id = str(resolver.resolve(policy_ref)) if isinstance(policy_ref, str) else None
    if policy_id in _ALL_VIEWER_POLICIES:
        return None, _ALL_VIEWER_POLICIES[policy_id]
    policy = _own_resource(resolver, policy_ref, "AWS::CloudFront::OriginRequestPolicy")
    if policy is None:
        return None, False
    config = resolver.resolve((policy.get("Properties") or {}).get("OriginRequestPolicyConfig") or {})
    headers_config = config.get("HeadersConfig") or {}
    behavior = str(headers_config.get("HeaderBehavior", "none"))
    listed = {str(h).lower() for h in headers_config.get("Headers") or []}
    viewer_address = VIEWER_ADDRESS in listed
    if behavior in ("allViewer", "allExcept"):
        return None, viewer_address if behavior == "allExcept" else False
    if behavior == "allViewerAndWhitelistCloudFront":
        return None, viewer_address
    forwarded = set(listed) if behavior == "whitelist" else set()
    cookies = [(config.get("CookiesConfig") or {}).get("CookieBehavior", "none")]
    cache = _own_resource(resolver, raw.get("CachePolicyId"), "AWS::CloudFront::CachePolicy")
    if cache is not None:
        cache_config = resolver.resolve((cache.get("Properties") or {}).get("CachePolicyConfig") or {})
        in_key = cache_config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
        key = in_key.get("HeadersConfig") or {}
        if key.get("HeaderBehavior") == "whitelist":
            forwarded |= {str(h).lower() for h in key.get("Headers") or []}
        cookies.append((in_key.get("CookiesConfig") or {}).get("CookieBehavior", "none"))
    if any(c != "none" for c in cookies):  # the Cookie header (locally every cookie, whichever a list names)
        forwarded.add("cookie")
    forwarded.discard(VIEWER_ADDRESS)
    return frozenset(forwarded), viewer_address


def _own_resource(resolver: Resolver, ref: Any, rtype: str) -> dict[str, Any] | None:
    """The template's resource of type ``rtype`` a !Ref names, else None (a managed policy's id)."""
    if isinstance(ref, dict) and isinstance(ref.get("Ref"), str):
        resource = resolver.resources.get(ref["Ref"])
        if isinstance(resource, dict) and resource.get("Type") == rtype:
            return resource
    return None


_SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:(.+?)(?::SecretString(?::[^}]*)?)?\}\}")


def resolve_secret_references(value: str, secrets: dict[str, str]) -> str:
    """``value`` with each ``{{resolve:secretsmanager:<ARN>[:SecretString...]}}`` replaced by ``secrets[ARN]`` (the
    whole secret string; a json-key or version is not read locally). Raises ``TemplateError`` for an unknown one."""

    def one(match: re.Match[str]) -> str:
        arn = match.group(1)
        if arn not in secrets:
            raise TemplateError(f"{{{{resolve:secretsmanager:{arn}}}}}: no local value (Metadata LocalGateway: "
                                f"{SECRET_FROM_ENV} on the secret names the environment variable that holds it)")
        return secrets[arn]

    return _SECRET_REFERENCE.sub(one, value)


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _read_websocket_api(resolver: Resolver, by_arn: dict[str, str], warnings: list[str]) -> WebSocketApiSpec | None:
    resources = resolver.resources
    apis = [
        lid
        for lid, r in resources.items()
        if r.get("Type") == "AWS::ApiGatewayV2::Api" and (r.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
    ]
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Serverless::WebSocketApi":
            raise TemplateError(
                f"{lid}: AWS::Serverless::WebSocketApi is not read by the local gateway yet; "
                "declare the WebSocket API with AWS::ApiGatewayV2::* resources"
            )
    if not apis:
        return None
    if len(apis) > 1:
        warnings.append(f"several WebSocket APIs ({', '.join(apis)}); serving {apis[0]} only")
    api_lid = apis[0]
    api_props = resolver.resolve(resources[api_lid].get("Properties") or {})
    api_id = str(resolver.ref(api_lid))

    def belongs(resource: dict[str, Any]) -> bool:
        props = resource.get("Properties") or {}
        return "ApiId" in props and str(resolver.resolve(props["ApiId"])) == api_id

    def of_type(rtype: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in resources.items() if r.get("Type") == rtype and belongs(r)}

    stages = of_type("AWS::ApiGatewayV2::Stage")
    if not stages:
        raise TemplateError(f"{api_lid}: the WebSocket API has no AWS::ApiGatewayV2::Stage")
    stage_lid = next(iter(stages))
    if len(stages) > 1:
        warnings.append(f"{api_lid} has several stages; serving {stage_lid}")
    stage = str(resolver.resolve((stages[stage_lid].get("Properties") or {}).get("StageName")))

    integrations: dict[str, str] = {}
    for lid, r in of_type("AWS::ApiGatewayV2::Integration").items():
        props = resolver.resolve(r.get("Properties") or {})
        uri = str(props.get("IntegrationUri", ""))
        if props.get("IntegrationType") not in ("AWS_PROXY", None):
            warnings.append(f"{lid}: integration type {props.get('IntegrationType')} is not served; only AWS_PROXY")
            continue
        integrations[str(resolver.ref(lid))] = _function_from_arn(uri, by_arn, f"{lid}.IntegrationUri")

    authorizers: dict[str, AuthorizerSpec] = {}
    for lid, r in of_type("AWS::ApiGatewayV2::Authorizer").items():
        props = resolver.resolve(r.get("Properties") or {})
        if props.get("AuthorizerType") != "REQUEST":
            raise TemplateError(f"{lid}: only REQUEST authorizers exist for WebSocket APIs")
        sources = props.get("IdentitySource") or []
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        authorizer_id = str(resolver.ref(lid))
        authorizers[authorizer_id] = AuthorizerSpec(
            logical_id=lid,
            authorizer_id=authorizer_id,
            function_id=_function_from_arn(str(props.get("AuthorizerUri", "")), by_arn, f"{lid}.AuthorizerUri"),
            identity_sources=[str(s) for s in sources],
            authorizer_type="REQUEST",
        )

    route_responses = {
        str(resolver.resolve((r.get("Properties") or {}).get("RouteId")))
        for r in of_type("AWS::ApiGatewayV2::RouteResponse").values()
    }
    routes: dict[str, WebSocketRouteSpec] = {}
    for lid, r in of_type("AWS::ApiGatewayV2::Route").items():
        props = resolver.resolve(r.get("Properties") or {})
        route_key = str(props.get("RouteKey"))
        target = str(props.get("Target", ""))
        integration_id = target.split("/", 1)[1] if target.startswith("integrations/") else ""
        if integration_id not in integrations:
            warnings.append(f"{lid} ({route_key}): target {target!r} is not a Lambda proxy integration; not served")
            continue
        authorizer = None
        if props.get("AuthorizationType") == "CUSTOM":
            authorizer_id = str(props.get("AuthorizerId", ""))
            if authorizer_id not in authorizers:
                raise TemplateError(f"{lid}: AuthorizerId does not name an authorizer of {api_lid}")
            authorizer = authorizers[authorizer_id]
        elif props.get("AuthorizationType") not in (None, "NONE"):
            warnings.append(f"{lid}: AuthorizationType {props.get('AuthorizationType')} is not enforced locally")
        routes[route_key] = WebSocketRouteSpec(
            route_key=route_key,
            function_id=integrations[integration_id],
            authorizer=authorizer,
            has_route_response=str(resolver.ref(lid)) in route_responses,
        )

    return WebSocketApiSpec(
        logical_id=api_lid,
        api_id=api_id,
        route_selection_expression=str(api_props.get("RouteSelectionExpression", "$request.body.action")),
        stage=stage,
        routes=routes,
    )


def _read_http_routes(
    resolver: Resolver, resources: dict[str, dict[str, Any]], warnings: list[str]
) -> tuple[list[HttpRouteSpec], dict[str, str]]:
    routes: list[HttpRouteSpec] = []
    api_ids: dict[str, str] = {}
    for lid, r in resources.items():
        if r.get("Type") == "AWS::Serverless::HttpApi":
            api_ids[lid] = str(resolver.ref(lid))
    for lid, r in resources.items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        events = (r.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            etype = event.get("Type")
            if etype == "Api":
                warnings.append(f"{lid}.{event_name}: REST API (Type: Api) events are not served locally")
                continue
            if etype != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api_ref = props.get("ApiId")
            if api_ref is None:
                api_lid = IMPLICIT_HTTP_API
                api_ids.setdefault(api_lid, str(resolver.ref(api_lid)))
            elif isinstance(api_ref, dict) and "Ref" in api_ref:
                api_lid = api_ref["Ref"]
            else:
                raise TemplateError(f"{lid}.{event_name}: ApiId must be a !Ref to an HttpApi")
            path = props.get("Path")
            method = props.get("Method")
            if path is None and method is None:
                path, method = "$default", "ANY"
            routes.append(
                HttpRouteSpec(
                    api_logical_id=api_lid,
                    method=str(resolver.resolve(method)).upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
                    path=str(resolver.resolve(path)),
                    function_id=lid,
                )
            )
    if len({r.api_logical_id for r in routes}) > 1:
        warnings.append("several HTTP APIs: their routes are all served on the same port")
    return routes, api_ids


# ---------------------------------------------------------------------------- URL rewriting


def rewrite_urls(
    value: str,
    *,
    websocket_api_id: str | None,
    http_api_ids: list[str],
    base: str,
    ws_base: str,
    cloudfront_domains: list[str] | tuple[str, ...] = (),
) -> str:
    """Point execute-api URLs of this stack's APIs, and its CloudFront distribution's, at the local gateway.

    ``wss://<wsApiId>.execute-api.<region>.amazonaws.com`` becomes ``ws_base``,
    ``https://<wsApiId>.execute-api...`` (the management API), ``https://<httpApiId>.execute-api...`` and
    ``https://<distribution's domain>`` become ``base``; the path after the host is kept.
    """
    for domain in cloudfront_domains:
        value = re.sub(r"\bhttps://" + re.escape(domain) + r"(?![\w.-])", base, value)
    ids = [i for i in [websocket_api_id, *http_api_ids] if i]
    if not ids:
        return value
    pattern = re.compile(
        r"\b(wss|https)://(" + "|".join(map(re.escape, ids)) + r")\.execute-api\.[a-z0-9-]+\.amazonaws\.com"
    )

    def replace(match: re.Match[str]) -> str:
        return ws_base if match.group(1) == "wss" else base

    return pattern.sub(replace, value)
