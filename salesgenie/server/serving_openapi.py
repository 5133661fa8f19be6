"""The `weekly_forecast` endpoint's request and response as an OpenAPI 3.0 document.

Databricks answers "get the endpoint's OpenAPI schema" with a document clients and notebooks
(the demo's openapi_swagger) feed to Swagger UI or code generators. FastAPI emits 3.1, and
relabelled 3.0 that is invalid (nullable fields come out as anyOf with type null), so this
document is built by hand, from the served version's MLflow signature: its input columns, its
params with the version's defaults, its output columns. It is a plain dict; nothing here imports
mlflow, the signature is read through its attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.models.signature import ModelSignature

OPENAPI_VERSION = "3.0.3"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

# MLflow DataType name -> OpenAPI schema. Dates travel as ISO strings, without a time zone (the
# signature's datetime is naive), so neither `date` nor RFC 3339 `date-time` fits the output.
_INPUT_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "long": {"type": "integer", "format": "int64"},
    "integer": {"type": "integer", "format": "int32"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "boolean": {"type": "boolean"},
    "binary": {"type": "string", "format": "byte"},
    "datetime": {"type": "string", "format": "date", "description": "ISO date, e.g. 2025-09-01"},
}
_OUTPUT_DATETIME = {"type": "string", "description": "ISO 8601 date and time, no time zone"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {"type": "string", "example": "BAD_REQUEST"},
        "message": {"type": "string", "description": "one line naming what was wrong"},
    },
}


def endpoint_document(
    *,
    server_url: str,
    endpoint: str,
    model_name: str,
    version: str,
    served_name: str,
    signature: ModelSignature,
    example: dict[str, Any] | None,
    max_horizon: int,
) -> dict[str, Any]:
    """The endpoint's invocations route, request in all four formats, 200 and error responses."""
    schemas: dict[str, Any] = {
        "Row": _row(signature),
        "Params": _params(signature, max_horizon),
        **{_title(fmt): body for fmt, body in zip(FORMATS, _formats(_ref("Row")), strict=True)},
        "InvocationRequest": {"oneOf": [_ref(_title(fmt)) for fmt in FORMATS]},
        "Prediction": _prediction(signature),
        "InvocationResponse": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": _ref("Prediction")}},
        },
        "Error": ERROR_SCHEMA,
    }
    for fmt in FORMATS:
        schemas[_title(fmt)]["properties"]["params"] = _ref("Params")
    request_content: dict[str, Any] = {"schema": _ref("InvocationRequest")}
    if example:
        request_content["example"] = example
    error = {"application/json": {"schema": _ref("Error")}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": endpoint,
            "version": version,
            "description": (
                f"Weekly sales forecasts from {model_name} version {version} (alias champion), "
                f"served as {served_name}. Send rows in one of MLflow's four formats; "
                "params.horizon sets the number of weeks."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            f"/serving-endpoints/{endpoint}/invocations": {
                "post": {
                    "operationId": "invoke",
                    "summary": "Forecast the requested series",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": request_content},
                    },
                    "responses": {
                        "200": {
                            "description": "one row per series and forecast week",
                            "headers": {
                                "served-model-name": {
                                    "description": "the served entity that answered",
                                    "schema": {"type": "string", "example": served_name},
                                }
                            },
                            "content": {"application/json": {"schema": _ref("InvocationResponse")}},
                        },
                        "400": {"description": "bad input (BAD_REQUEST)", "content": error},
                        "401": {"description": "missing or wrong bearer token", "content": error},
                        "404": {"description": "no champion registered", "content": error},
                        "500": {
                            "description": "the champion failed to load or to score",
                            "content": error,
                        },
                        "503": {
                            "description": "the model registry is unreachable",
                            "content": error,
                        },
                    },
                }
            }
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def generic_request_body() -> dict[str, Any]:
    """The request for the app's own (3.1) document, before any version is loaded: rows are open
    objects; the served version's exact columns are in its 3.0 document."""
    params = {
        "type": "object",
        "properties": {"horizon": {"type": "integer", "minimum": 1, "description": "weeks"}},
    }
    formats = _formats({"type": "object"})
    for body in formats:
        body["properties"]["params"] = params
    example = {"dataframe_records": [{"timeseries_id": "FR01_100001"}], "params": {"horizon": 3}}
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": formats}, "example": example}},
    }


def _formats(row: dict[str, Any]) -> list[dict[str, Any]]:
    """One body schema per format, in FORMATS' order; each allows `params` beside its key."""
    rows = {"type": "array", "minItems": 1, "items": row}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "additionalProperties": False,
        "properties": {
            "columns": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "data": {"type": "array", "minItems": 1, "items": {"type": "array", "items": {}}},
            "index": {"type": "array", "items": {}},
        },
    }
    columnar = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "array", "minItems": 1, "items": {}},
    }
    values = {
        "dataframe_split": split,
        "dataframe_records": rows,
        "instances": rows,
        "inputs": {"oneOf": [rows, columnar]},
    }
    return [
        {
            "type": "object",
            "required": [fmt],
            "additionalProperties": False,
            "properties": {fmt: values[fmt]},
        }
        for fmt in FORMATS
    ]


def _row(signature: ModelSignature) -> dict[str, Any]:
    inputs = signature.inputs.inputs
    return {
        "type": "object",
        "required": [col.name for col in inputs if col.required],
        "additionalProperties": False,
        "properties": {col.name: dict(_INPUT_TYPES[col.type.name]) for col in inputs},
    }


def _params(signature: ModelSignature, max_horizon: int) -> dict[str, Any]:
    properties = {}
    for spec in signature.params.params if signature.params else []:
        schema = {**_INPUT_TYPES[spec.dtype.name], "default": spec.default}
        if spec.name == "horizon":
            schema |= {"minimum": 1, "maximum": max_horizon, "description": "weeks to forecast"}
        properties[spec.name] = schema
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _prediction(signature: ModelSignature) -> dict[str, Any]:
    """Output columns; numbers may be null (a band past its calibrated horizon is NaN)."""
    properties = {}
    for col in signature.outputs.inputs:
        name = col.type.name
        if name == "datetime":
            properties[col.name] = dict(_OUTPUT_DATETIME)
        elif name in ("double", "float"):
            properties[col.name] = {**_INPUT_TYPES[name], "nullable": True}
        else:
            properties[col.name] = dict(_INPUT_TYPES[name])
    return {"type": "object", "required": list(properties), "properties": properties}


def _title(fmt: str) -> str:
    """dataframe_split -> DataframeSplitRequest."""
    return "".join(part.title() for part in fmt.split("_")) + "Request"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
