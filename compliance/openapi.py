"""Schema-only descriptions of the compliance API's JSON for /api/schema/ (report, checks, rules, holds,
classifications). Added to the generated schema by `add_components`, a drf-spectacular post-processing hook
(SPECTACULAR_SETTINGS); nothing here runs while a request is answered. The shapes are those of `compliance.api`
and `compliance.services.report_data`; tests/test_openapi.py checks real answers against them.
"""

from governance.openapi import (
    BOOLEAN,
    FREE_OBJECT,
    INTEGER,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    NULLABLE_TIME,
    STRING,
    STRINGS,
    TIME,
    array,
    obj,
    ref,
)

SCOPE = {
    "description": "Whose view the answer is: every namespace, or the list of the caller's namespaces.",
    "anyOf": [STRING, STRINGS],
}
RATE = {"type": "number", "description": "Percent, 0–100."}
SEVERITY = {"type": "string", "enum": ["low", "medium", "high", "critical"]}

REPORT = obj(
    {
        "period": obj({"start": TIME, "end": TIME}),
        "generatedAt": TIME,
        "generatedBy": NULLABLE_STRING,
        "scope": SCOPE,
        "summary": obj(
            {
                "totalEvents": INTEGER,
                "compliantEvents": INTEGER,
                "violations": INTEGER,
                "complianceRate": RATE,
                "checkEvaluations": INTEGER,
                "auditedEvents": INTEGER,
            }
        ),
        "violationCategories": {"type": "object", "additionalProperties": INTEGER},
        "recentViolations": array(
            obj({"time": TIME, "source": {"type": "string", "enum": ["check", "audit"]}, "category": STRING})
        ),
        "requirements": array(
            obj(
                {
                    "rule": STRING,
                    "category": STRING,
                    "severity": STRING,
                    "title": STRING,
                    "parameters": FREE_OBJECT,
                    "enabled": BOOLEAN,
                }
            )
        ),
        "ruleStatus": array(obj({"rule": STRING, "status": STRING, "violations": NULLABLE_INTEGER})),
        "trend": array(obj({"period": TIME, "events": INTEGER, "violations": INTEGER, "complianceRate": RATE})),
        "pii": FREE_OBJECT,
        "secretAccess": obj(
            {"total": INTEGER, "byOutcome": {"type": "object", "additionalProperties": INTEGER}, "hidden": INTEGER}
        ),
        "auditChain": FREE_OBJECT,
    },
    description="The compliance report of a period (format=json). csv and pdf carry the same content.",
)
SIGNATURE = obj(
    {
        "report": {"type": "string", "description": "The report's file name."},
        "reportId": INTEGER,
        "generatedAt": TIME,
        "algorithm": {"type": "string", "enum": ["Ed25519"]},
        "sha256": STRING,
        "signature": STRING,
        "keyId": STRING,
        "publicKey": {"type": "string", "description": "PEM."},
    },
    description="The detached signature of a report's exact bytes.",
)
CHECK = obj(
    {
        "rule": STRING,
        "title": STRING,
        "category": STRING,
        "severity": STRING,
        "status": STRING,
        "violationCount": INTEGER,
        "violations": array(FREE_OBJECT),
        "hidden": {"type": "integer", "description": "Violations listed for the rule that the caller may not see."},
        "checkedAt": TIME,
    }
)
CHECKS = obj({"checkedAt": TIME, "scope": SCOPE, "checks": array(ref("ComplianceCheck")), "failing": INTEGER})
RULE = obj(
    {
        "id": STRING,
        "category": STRING,
        "severity": SEVERITY,
        "title": STRING,
        "description": STRING,
        "check": STRING,
        "parameters": FREE_OBJECT,
        "enabled": BOOLEAN,
        "updatedAt": NULLABLE_TIME,
        "updatedBy": NULLABLE_STRING,
    }
)
RULES = obj({"scope": SCOPE, "rules": array(ref("ComplianceRule"))})
HOLD = obj(
    {
        "id": INTEGER,
        "kind": STRING,
        "namespace": STRING,
        "name": STRING,
        "reason": STRING,
        "placedAt": TIME,
        "placedBy": NULLABLE_STRING,
        "releasedAt": NULLABLE_TIME,
        "active": BOOLEAN,
    },
    description="A legal hold: what it keeps from deletion and why.",
)
HOLDS = obj({"holds": array(ref("LegalHold"))})
CLASSIFICATIONS = obj(
    {
        "sources": array(obj({"node": STRING, "classification": STRING})),
        "inferred": array(
            obj(
                {
                    "node": STRING,
                    "classification": STRING,
                    "source": STRING,
                    "hops": INTEGER,
                    "path": {
                        **STRINGS,
                        "description": "Node ids from the source; `restricted` for nodes the caller may not see.",
                    },
                }
            )
        ),
        "canSave": BOOLEAN,
    },
    optional=("canSave",),
    description="Declared classifications and where lineage carries them; a preview says whether the caller "
    "may save it (`canSave`).",
)

SCHEMAS = {
    "ComplianceReport": REPORT,
    "ComplianceReportSignature": SIGNATURE,
    "ComplianceCheck": CHECK,
    "ComplianceChecks": CHECKS,
    "ComplianceRule": RULE,
    "ComplianceRules": RULES,
    "LegalHold": HOLD,
    "LegalHolds": HOLDS,
    "Classifications": CLASSIFICATIONS,
}


def add_components(result, generator, request, public):
    """drf-spectacular post-processing hook: this module's components."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    return result
