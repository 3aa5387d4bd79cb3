"""The page off Lambda (issue 20, section 5): a private bucket read by CloudFront through origin access control,
one origin whose behaviors send every path the HTTP API function serves to the HTTP API (uncached, the viewer headers it reads and
the viewer's address but API Gateway's Host, and the stack's edge secret) and the page's paths to the bucket, with the page's security headers."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from parley_local.template import read_stack
from tests.support import ROOT

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
PAGE_PATHS = ("/", "/index.html", "/favicon.ico", "/static/app.0123456789.js", "/static/style.0123456789.css")


@pytest.fixture
def distribution(template) -> dict:
    return template["Resources"]["PageDistribution"]["Properties"]["DistributionConfig"]


@pytest.fixture(scope="module")
def page_spec():
    return read_stack(ROOT / "template.yaml", {"MongoDbUri": "mongodb://example.invalid"}).page


def _example(path: str) -> str:
    """A concrete request path for a route's path template (/rooms/{room}/messages -> /rooms/general/messages)."""
    return re.sub(r"\{[^}]+\}", "general", path)


def test_every_path_the_api_serves_goes_to_the_http_api_and_the_page_to_the_bucket(stack, page_spec):
    routes = [r.path for r in stack.modules["AuthFunction"].app.routes if isinstance(r, Route)]
    assert "/auth/login" in routes and "/rooms/{room}/messages" in routes and "/config.json" in routes
    for path in routes:
        assert not page_spec.behavior_for(_example(path)).to_bucket, f"{path} would be sent to the bucket"
    for path in PAGE_PATHS:
        assert page_spec.behavior_for(path).to_bucket, path
    # the function serves none of the page (it is the bucket's)
    assert not {"/", "/static/{name}", "/favicon.ico"} & set(routes)


def test_the_http_api_has_no_page_route(template):
    events = template["Resources"]["AuthFunction"]["Properties"]["Events"]
    assert ("GET", "/") not in {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}


def test_api_behaviors_are_uncached_and_forward_the_viewers_headers_but_not_host(template, distribution):
    resources = template["Resources"]
    origins = {o["Id"]: o for o in distribution["Origins"]}
    assert origins["api"]["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"}
    assert origins["api"]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    for behavior in distribution["CacheBehaviors"]:
        assert behavior["TargetOriginId"] == "api", behavior["PathPattern"]
        assert behavior["CachePolicyId"] == {"Ref": "ApiCachePolicy"}
        assert behavior["OriginRequestPolicyId"] == {"Ref": "ApiOriginRequestPolicy"}
        assert set(behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    default = distribution["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "page" and default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["ResponseHeadersPolicyId"] == {"Ref": "PageHeaders"} and distribution["DefaultRootObject"] == "index.html"

    # Authorization reaches the API only through the cache key (an origin request policy may not name it, and
    # the managed AllViewer* policies that pass it with caching disabled cannot add CloudFront-Viewer-Address)
    cache = resources["ApiCachePolicy"]["Properties"]["CachePolicyConfig"]
    key = cache["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert [h.lower() for h in key["HeadersConfig"]["Headers"]] == ["authorization"]
    assert (cache["MinTTL"], cache["DefaultTTL"]) == (0, 0) and cache["MaxTTL"] <= 1  # the API is not cached
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    # the origin request policy: the viewer headers the API reads and the viewer's address, every cookie and
    # query string; never Host (API Gateway routes by its own) and never Authorization (CloudFront refuses it)
    policy = resources["ApiOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert policy["HeadersConfig"]["HeaderBehavior"] == "whitelist"  # allViewer* would forward Host
    forwarded = {h.lower() for h in policy["HeadersConfig"]["Headers"]}
    assert {"cloudfront-viewer-address", "content-type", "origin", "sec-fetch-site"} <= forwarded
    assert not {"host", "authorization", "x-forwarded-for"} & forwarded
    assert policy["CookiesConfig"]["CookieBehavior"] == "all"
    assert policy["QueryStringsConfig"]["QueryStringBehavior"] == "all"


def test_cloudfront_proves_its_requests_with_the_stacks_edge_secret(template, distribution):
    resources = template["Resources"]
    api = next(o for o in distribution["Origins"] if o["Id"] == "api")
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"].lower() == "x-parley-edge"
    # the value is the generated secret's, resolved by CloudFormation: never in the template or a parameter
    assert header["HeaderValue"] == {"Fn::Sub": "{{resolve:secretsmanager:${EdgeSecret}:SecretString}}"}
    secret = resources["EdgeSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    auth = resources["AuthFunction"]["Properties"]
    assert auth["Environment"]["Variables"]["EDGE_SECRET_ARN"] == {"Ref": "EdgeSecret"}
    assert {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "EdgeSecret"}}} in auth["Policies"]


def test_the_bucket_is_private_and_only_this_distribution_reads_it(template, distribution):
    resources = template["Resources"]
    bucket = resources["PageBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    page_origin = next(o for o in distribution["Origins"] if o["Id"] == "page")
    assert page_origin["DomainName"] == {"Fn::GetAtt": ["PageBucket", "RegionalDomainName"]}
    assert page_origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PageOriginAccessControl", "Id"]}
    assert page_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = resources["PageOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")
    (allow,) = [s for s in resources["PageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${PageDistribution}")
    # the policy names the distribution; the distribution must not wait for the policy (a cycle)
    assert "PageBucketPolicy" not in str(resources["PageDistribution"])


def test_the_page_keeps_its_strict_headers(template):
    config = template["Resources"]["PageHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = config["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
    assert "connect-src 'self' wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com;" in csp
    assert "frame-ancestors 'none'" in csp and config["ContentSecurityPolicy"]["Override"] is True
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer" and "ContentTypeOptions" in config


def test_the_stack_says_where_the_page_is_and_where_to_publish_it(template):
    outputs = template["Outputs"]
    assert outputs["PageUrl"]["Value"] == {"Fn::Sub": "https://${PageDistribution.DomainName}"}
    assert outputs["PageBucketName"]["Value"] == {"Ref": "PageBucket"}
    assert template["Resources"]["PageBucket"]["Metadata"]["LocalGateway"]["PageSource"] == "functions/auth/static"
