"""Prefect's UI for a deployed stage: the same static files ``make run`` serves, in a private S3
bucket, at the root of the CloudFront distribution that fronts the API (``/api/*``).

- The files: the built UI of the pinned ``prefect`` wheel (``devstack.ui_bundle``; never
  committed), uploaded by a ``BucketDeployment`` (pruned, the distribution invalidated).
- ``/ui-settings``: what Prefect's server answers there (``UISettings``), written as a JSON object at
  deploy time with ``api_url = https://<distribution>/api`` (the API on the same host: no CORS) and
  ``auth = "BASIC"`` since every deployed stage requires an API key: the UI then asks for it once and
  sends it as ``Authorization: Basic …``, which the API's authorizer accepts as the key.
- The single-page app: a CloudFront Function sends every path without a file extension (``/runs``,
  ``/flows/flow/<id>``…) to ``/index.html``; ``/ui-settings`` and files pass through.
- The bucket is reachable only through the distribution (origin access control). In ``dev`` it is
  emptied and deleted with the stack; in ``prod`` it is retained, as the tables are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnResource, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

UI_SETTINGS_KEY = "ui-settings"
#: Memory of CDK's upload function (it unzips ~6 MB of files).
UPLOAD_MEMORY_MB = 512

#: viewer-request on the UI's behavior: the SPA's routes are paths without a file extension.
SPA_REWRITE = """function handler(event) {
  var request = event.request;
  var uri = request.uri;
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (uri !== '/UI_SETTINGS' && last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}""".replace("UI_SETTINGS", UI_SETTINGS_KEY)


def ui_settings(api_url: str, *, auth: str | None) -> dict[str, Any]:
    """The ``/ui-settings`` document (Prefect's ``UISettings``; the same fields ``make run`` answers)."""
    return {
        "api_url": api_url,
        "csrf_enabled": False,
        "auth": auth,
        "flags": [],
        "default_ui": "v1",
        "available_uis": ["v1"],
        "v1_base_url": "/",
        "v2_base_url": None,
    }


class UiSite(Construct):
    """The bucket and the distribution's default behavior; :meth:`publish` uploads once the
    distribution exists (its domain goes into ``/ui-settings``)."""

    def __init__(self, scope: Construct, construct_id: str, *, ui_dir: Path, protected: bool) -> None:
        super().__init__(scope, construct_id)
        self.ui_dir = ui_dir
        self.bucket = s3.Bucket(
            self,
            "Files",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # dev: deleted with the stack (the deployments below empty it first); prod: retained.
            removal_policy=RemovalPolicy.RETAIN if protected else RemovalPolicy.DESTROY,
        )
        self.protected = protected
        self.rewrite = cloudfront.Function(
            self,
            "SpaRoutes",
            function_name=Fn.sub("${AWS::StackName}-${AWS::Region}-ui-spa-routes"),
            code=cloudfront.FunctionCode.from_inline(SPA_REWRITE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Prefect UI: paths without a file extension -> /index.html",
        )

    def behavior(self) -> cloudfront.BehaviorOptions:
        """The distribution's default behavior: the UI's files, cached (the asset names carry hashes;
        index.html and ui-settings are invalidated on every deploy)."""
        return cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            compress=True,
            function_associations=[
                cloudfront.FunctionAssociation(
                    function=self.rewrite, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                )
            ],
        )

    def publish(self, distribution: cloudfront.Distribution, *, auth: str | None, role: iam.IRole) -> None:
        """Upload the files and ``/ui-settings`` (pointing at ``https://<distribution>/api``) with CDK's
        upload function running as ``role`` (CDK adds reads of its asset bucket, writes to this
        bucket and the distribution's invalidations)."""
        api_url = Fn.sub("https://${Host}/api", {"Host": distribution.distribution_domain_name})
        files = s3deploy.BucketDeployment(
            self,
            "Upload",
            destination_bucket=self.bucket,
            sources=[s3deploy.Source.asset(str(self.ui_dir))],
            exclude=[UI_SETTINGS_KEY],  # written (and kept) by the deployment below
            prune=True,
            distribution=distribution,
            distribution_paths=["/*"],
            memory_limit=UPLOAD_MEMORY_MB,
            retain_on_delete=self.protected,
            role=role,
        )
        settings = s3deploy.BucketDeployment(
            self,
            "Settings",
            destination_bucket=self.bucket,
            sources=[s3deploy.Source.json_data(UI_SETTINGS_KEY, ui_settings(api_url, auth=auth))],
            prune=False,
            content_type="application/json",
            cache_control=[s3deploy.CacheControl.no_cache()],
            memory_limit=UPLOAD_MEMORY_MB,  # the same: one upload function for both
            retain_on_delete=self.protected,
            role=role,
        )
        settings.node.add_dependency(files)
        self._quiet_cfn_lint(role)

    def _quiet_cfn_lint(self, role: iam.IRole) -> None:
        """CDK writes these resources' ARNs with ``Fn::Join`` (cfn-lint's I1022) and gives its upload
        function a DependsOn its role's policy that the role's GetAtt already implies (W3005): let
        cfn-lint skip exactly those checks on exactly those resources."""
        quiet = {"I1022": [self.bucket.policy, role.node.try_find_child("DefaultPolicy")]}
        upload_functions = [
            c for c in Stack.of(self).node.children if c.node.id.startswith("Custom::CDKBucketDeployment")
        ]
        quiet["W3005"] = upload_functions
        for check, constructs in quiet.items():
            for construct in constructs:
                resource = construct.node.default_child if construct is not None else None
                if isinstance(resource, CfnResource):
                    ignored = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}}
                    ignored["config"]["ignore_checks"].append(check)
                    resource.add_metadata("cfn-lint", ignored)
