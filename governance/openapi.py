"""Schema-only descriptions of the governance API's JSON (tokens, connections, errors) for /api/schema/.

Nothing here runs while a request is answered: these are OpenAPI 3.0 components, added to the generated schema by
`add_components` (a drf-spectacular post-processing hook, SPECTACULAR_SETTINGS), and the `responses` helpers the
views' `@extend_schema` decorators use. The shapes are the ones `token_json` and `connection_json` build, and the
conformance test (tests/test_openapi.py) checks real answers against them.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse

# --- Building blocks -----------------------------------------------------------------------------------------

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
ANY = {}  # any JSON value
FREE_OBJECT = {"type": "object", "additionalProperties": True}
TIME = {"type": "string", "description": "ISO-8601, UTC (`Z`)."}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = (), description: str = "") -> dict[str, Any]:
    """An object whose listed keys are all present (but `optional` ones); extra keys are allowed, so that adding a
    field is not a breaking change, while a renamed or retyped one is caught."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [key for key in properties if key not in optional]
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


NULLABLE_STRING = nullable(STRING)
NULLABLE_TIME = nullable(TIME)
NULLABLE_INTEGER = nullable(INTEGER)
STRINGS = array(STRING)


EXPORT_SCHEMA = {"type": "string", "description": "A file: the whole matching selection, streamed."}
BINARY = {"type": "string", "format": "binary"}


def typed(name: str, description: str = "") -> OpenApiResponse:
    """A success answer whose body is the named component."""
    return OpenApiResponse(ref(name), description=description)


# --- Errors ----------------------------------------------------------------------------------------------------

ERROR_MESSAGES = {
    400: "A bad parameter or body: `message` (and `errors` with JSON pointers) name the problem.",
    401: "No session and no bearer token, or an unknown, expired or revoked token.",
    403: "Logged in, but the role, scope or namespaces do not allow this.",
    404: "No such object, or one in a namespace the caller may not see.",
    409: "The object is not in a state that allows this.",
    413: "The body is over the size limit.",
    415: "Not a JSON content type, or an unsupported Content-Encoding.",
    422: "Understood, but refused again (see the body).",
    429: "Too many attempts; try again later.",
    503: "A server-side configuration (such as the encryption keys) is missing; an operator sees why in the log.",
}


def errors(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """The error answers of an operation, each with the shared Error body. `descriptions` (`e403="..."`) say what
    that code means for this operation."""
    return {
        code: OpenApiResponse(ref("Error"), description=descriptions.get(f"e{code}", ERROR_MESSAGES[code]))
        for code in codes
    }


READ_ERRORS = (400, 401, 403)

ERROR = obj(
    {
        "code": INTEGER,
        "message": STRING,
        "errors": array(
            obj(
                {"path": STRING, "message": STRING, "parameter": STRING},
                optional=("path", "message", "parameter"),
                description="One problem: a JSON pointer (`path`) or a query parameter, and what is wrong.",
            )
        ),
        "parameter": STRING,
        "detail": ANY,
        "requestId": STRING,
    },
    optional=("errors", "parameter", "detail", "requestId"),
    description="Every API error is JSON: Marquez's `code` and `message`, `errors` with JSON pointers where there "
    "are several problems, and the request id to quote.",
)

# --- Tokens ----------------------------------------------------------------------------------------------------

TOKEN = obj(
    {
        "id": INTEGER,
        "name": STRING,
        "prefix": {"type": "string", "description": "The first characters of the secret, to recognise it."},
        "scope": {"type": "string", "enum": ["ingest", "read"]},
        "namespaces": STRINGS,
        "owner": NULLABLE_STRING,
        "createdAt": TIME,
        "lastUsedAt": NULLABLE_TIME,
        "expiresAt": NULLABLE_TIME,
        "revokedAt": NULLABLE_TIME,
        "active": BOOLEAN,
    },
    description="An API token's metadata; never its secret.",
)
NEW_TOKEN = {
    "allOf": [
        ref("Token"),
        obj({"token": {"type": "string", "description": "The secret: shown in this answer only."}}),
    ]
}
TOKEN_LIST = obj({"tokens": array(ref("Token"))})

# --- Connections -----------------------------------------------------------------------------------------------

CONNECTION = obj(
    {
        "id": STRING,
        "connType": STRING,
        "host": STRING,
        "port": NULLABLE_INTEGER,
        "schema": STRING,
        "login": STRING,
        "hasPassword": BOOLEAN,
        "hasExtra": BOOLEAN,
        "description": STRING,
        "namespaces": STRINGS,
        "owner": NULLABLE_STRING,
        "createdAt": TIME,
        "createdBy": NULLABLE_STRING,
        "updatedAt": TIME,
        "updatedBy": NULLABLE_STRING,
        "keyId": NULLABLE_STRING,
    },
    description="A connection's metadata: whether secrets are set, never what they are.",
)
CONNECTION_LIST = obj({"connections": array(ref("Connection")), "totalCount": INTEGER})
CONNECTION_SECRETS = obj(
    {"password": STRING, "extra": FREE_OBJECT},
    description="The connection's decrypted secrets (an audited reveal).",
)
CONNECTION_TEST = obj({"ok": BOOLEAN, "message": STRING})
REAUTHENTICATED = obj({"reauthenticated": BOOLEAN})

SCHEMAS = {
    "Error": ERROR,
    "Token": TOKEN,
    "NewToken": NEW_TOKEN,
    "TokenList": TOKEN_LIST,
    "Connection": CONNECTION,
    "ConnectionList": CONNECTION_LIST,
    "ConnectionSecrets": CONNECTION_SECRETS,
    "ConnectionTest": CONNECTION_TEST,
    "Reauthenticated": REAUTHENTICATED,
}


def add_components(result, generator, request, public):
    """drf-spectacular post-processing hook: this module's components."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    return result
