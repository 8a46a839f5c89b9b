"""``/processes``: deployed process models, their version history and files, deployment."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView

from api.deploy_upload import folder_files
from api.openapi import API_PREFIX, MAX_NUMBER
from api.resources.blueprint import ResourceBlueprint, caller, orchestrator
from api.schemas.processes import (
    DeployOptionsSchema,
    DeployResultSchema,
    DeployUploadSchema,
    ProcessDetailSchema,
    ProcessSummarySchema,
    VersionSchema,
)
from engine.catalog import ProcessDetail, ProcessSummary, VersionSummary
from engine.errors import NotAllowed

__all__ = ["blp"]

blp = ResourceBlueprint(
    "processes", __name__, url_prefix=f"{API_PREFIX}/processes",
    description="Deployed process models, their versions and files; deploying a new version.",
)

CONTENT_TYPES = {".bpmn": "application/xml", ".dmn": "application/xml",
                 ".json": "application/json"}


@blp.route("")
class Processes(MethodView):
    @blp.response(200, ProcessSummarySchema(many=True))
    @blp.problems()
    def get(self) -> list[ProcessSummary]:
        """List the deployed process models

        Key, name, ISO/IEC 20000 clauses, latest version and owner role of each.
        """
        return orchestrator().processes()


@blp.route("/<key:key>")
class Process(MethodView):
    @blp.response(200, ProcessDetailSchema)
    @blp.problems(404)
    def get(self, key: str) -> ProcessDetail:
        """Show a process model with its latest version"""
        return orchestrator().process(key)


@blp.route("/<key:key>/versions")
class Versions(MethodView):
    @blp.response(200, VersionSchema(many=True))
    @blp.problems(404)
    def get(self, key: str) -> list[VersionSummary]:
        """List a process model's versions, newest first"""
        return orchestrator().versions(key)

    @blp.arguments(DeployUploadSchema, location="multipart")
    @blp.arguments(DeployOptionsSchema, location="query")
    @blp.response(201, DeployResultSchema, description="A new version was deployed.")
    @blp.alt_response(200, schema=DeployResultSchema,
                      description="The files equal the latest version: nothing deployed.")
    @blp.problems(403, 413, 422)
    def post(
        self, upload: dict[str, Any], options: dict[str, Any], key: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Deploy a new version of a process model

        Send the process folder's .bpmn, .dmn and .json files (repeat the `files` field), or
        one .zip of the folder. Every problem found is listed in the 422 answer (code
        `deploy_rejected`). A valid folder whose diagrams no longer meet ISO/IEC 20000
        requirements its manifest claims is refused with code `conformance_gaps`, listing
        each requirement and clause, unless `accept_gaps=true` is sent (form field or query
        parameter): then it is deployed and the gaps are recorded on the version. Needs the
        Process Owner (or Admin) role.
        """
        actor = caller()
        if not actor.may_deploy():  # refuse before reading what may be a large upload
            raise NotAllowed(f"{actor.name} may not deploy process models (needs Process Owner)")
        accept_gaps = bool(upload.get("accept_gaps") or options.get("accept_gaps"))
        outcome = orchestrator().deploy(key, folder_files(key, upload["files"]), actor,
                                        accept_gaps=accept_gaps)
        version = next(v for v in orchestrator().versions(key) if v.number == outcome.version)
        body = {"key": key, "created": outcome.created, "version": version}
        location = url_for(".Versions", key=key) + f"/{outcome.version}"
        return body, 201 if outcome.created else 200, {"Location": location}


_FILE_CONTENT = {
    "application/xml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}},
}


@blp.route(f"/<key:key>/versions/<int(min=1, max={MAX_NUMBER}):number>/files/<file_name:name>")
class VersionFile(MethodView):
    @blp.doc(responses={"200": {"description": "The file exactly as deployed.",
                                "content": _FILE_CONTENT}})
    @blp.problems(404)
    def get(self, key: str, number: int, name: str) -> Response:
        """Download a deployed file (BPMN or DMN XML, JSON form)"""
        content = orchestrator().version_file(key, number, name)
        suffix = name[name.rfind("."):] if "." in name else ""
        return Response(content, mimetype=CONTENT_TYPES.get(suffix, "application/octet-stream"))
