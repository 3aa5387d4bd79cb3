"""The template's CloudFront distribution, locally (parley_local/cloudfront.py): its behaviors send the API's
paths to the HTTP API and the rest to the page's bucket, whose objects are the Metadata's source directory
published as `make publish` publishes it (content-hashed names, each object's Cache-Control), with the response
headers policy's headers; the distribution's domain in the functions' environment is the gateway's origin."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest

from parley_local.server import LocalGateway
from tests.local.conftest import HERE

DISTRIBUTION = """
  Page:
    Type: AWS::S3::Bucket
    Metadata:
      LocalGateway:
        PageSource: site
  Headers:
    Type: AWS::CloudFront::ResponseHeadersPolicy
    Properties:
      ResponseHeadersPolicyConfig:
        Name: page
        SecurityHeadersConfig:
          ContentSecurityPolicy:
            ContentSecurityPolicy: !Sub "default-src 'self'; connect-src 'self' wss://${WsApi}.execute-api.${AWS::Region}.amazonaws.com"
            Override: true
          ContentTypeOptions:
            Override: true
        CustomHeadersConfig:
          Items:
            - Header: X-Page
              Value: "yes"
              Override: true
  Cdn:
    Type: AWS::CloudFront::Distribution
    Properties:
      DistributionConfig:
        Enabled: true
        DefaultRootObject: index.html
        Origins:
          - Id: bucket
            DomainName: !GetAtt Page.RegionalDomainName
            S3OriginConfig:
              OriginAccessIdentity: ""
          - Id: api
            DomainName: !Sub "${HttpApi}.execute-api.${AWS::Region}.amazonaws.com"
            CustomOriginConfig:
              OriginProtocolPolicy: https-only
        DefaultCacheBehavior:
          TargetOriginId: bucket
          ViewerProtocolPolicy: redirect-to-https
          CachePolicyId: 658327ea-f89d-4fab-a63d-7e88639e58f6
          ResponseHeadersPolicyId: !Ref Headers
        CacheBehaviors:
          - PathPattern: /items/*
            TargetOriginId: api
            ViewerProtocolPolicy: https-only
            AllowedMethods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]
            CachePolicyId: 4135ea2d-6df8-44a3-9df3-4b5a84be39ad
          - PathPattern: /plai?
            TargetOriginId: api
            ViewerProtocolPolicy: https-only
            CachePolicyId: 4135ea2d-6df8-44a3-9df3-4b5a84be39ad
"""


@pytest.fixture
async def gateway(tmp_path, event_log):
    app = tmp_path / "app"
    shutil.copytree(HERE / "fixture_app", app)
    template = app / "template.yaml"
    template.write_text(template.read_text().replace(
        "FROM_GLOBALS: overridden-by-function",
        "FROM_GLOBALS: overridden-by-function\n          PAGE_ORIGIN: !Sub \"https://${Cdn.DomainName}\"",
    ) + DISTRIBUTION)
    site = app / "site"
    site.mkdir()
    (site / "index.html").write_text('<script type="module" src="/static/main.js"></script>')
    (site / "main.js").write_text('import { x } from "./dep.js";\nconsole.log(x);\n')
    (site / "dep.js").write_text("export const x = 1;\n")
    gw = LocalGateway(template, host="127.0.0.1", port=0, parameter_overrides={"Secret": "s"},
                      env_vars={"Parameters": {"EVENT_LOG": str(event_log.path)}})
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


async def test_the_bucket_serves_hashed_files_with_their_cache_control_and_the_policy_headers(gateway):
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        index = await http.get("/")
        assert index.status_code == 200 and index.headers["content-type"] == "text/html; charset=utf-8"
        assert index.headers["cache-control"] == "no-cache" and index.headers["x-page"] == "yes"
        # the policy's CSP, with the WebSocket API's URL pointed at the gateway
        assert index.headers["content-security-policy"] == f"default-src 'self'; connect-src 'self' ws://127.0.0.1:{gateway.port}"
        assert index.headers["x-content-type-options"] == "nosniff"
        (main,) = re.findall(r'src="(/static/main\.[0-9a-f]{10}\.js)"', index.text)
        module = await http.get(main)
        assert module.status_code == 200 and module.headers["content-type"] == "text/javascript; charset=utf-8"
        assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
        (dep,) = re.findall(r'from "\./(dep\.[0-9a-f]{10}\.js)"', module.text)
        assert (await http.get(f"/static/{dep}")).status_code == 200
        again = await http.get(main, headers={"If-None-Match": module.headers["etag"]})
        assert again.status_code == 304
        # the unhashed name is no object of the bucket: S3 answers a reader without ListBucket 403
        for missing in ("/static/main.js", "/static/..%2Ftemplate.yaml", "/nothing"):
            assert (await http.get(missing)).status_code == 403, missing
        assert (await http.post("/")).status_code == 403  # the default behavior allows GET and HEAD only


async def test_the_api_behaviors_reach_the_http_api_and_nothing_else_does(gateway, event_log):
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        item = await http.post("/items/7", json={})
        assert item.status_code == 200 and item.json()["rawPath"] == "/items/7"
        assert (await http.get("/plain")).json() == {"hello": "world"}  # "?" is one character
        assert (await http.get("/plainer")).status_code == 403
        root = await http.get("/")
        assert "routeKey" not in root.text  # the HTTP API's GET / is not what the distribution serves there


async def test_the_distributions_domain_is_the_gateways_origin(gateway):
    assert gateway.function_env["HttpFunction"]["PAGE_ORIGIN"] == gateway.http_url


async def test_an_edited_file_is_published_again(gateway):
    site = gateway.stack.page.source
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        before = re.findall(r"/static/main\.\w+\.js", (await http.get("/")).text)
        (site / "dep.js").write_text("export const x = 22;\n")  # another size: a coarse mtime cannot hide it
        after = re.findall(r"/static/main\.\w+\.js", (await http.get("/")).text)
        assert before != after and (await http.get(after[0])).status_code == 200
