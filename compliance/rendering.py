"""A compliance report as JSON, CSV or a laid-out PDF (reportlab)."""

import csv
import io
from datetime import datetime
from typing import Any

import orjson
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def scope_text(scope: str | list[str]) -> str:
    return scope if isinstance(scope, str) else "namespaces " + ", ".join(scope or ["(none)"])


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if value is None:
        return ""
    return str(value)


def _default(value: Any):
    if isinstance(value, datetime):
        return _text(value)
    raise TypeError(type(value).__name__)


def to_json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def to_csv(data: dict[str, Any]) -> bytes:
    """Sections one after another: section, key, value columns, so a spreadsheet opens it as one table."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "value", "detail"])
    period = data["period"]
    writer.writerow(["period", "start", _text(period["start"]), ""])
    writer.writerow(["period", "end", _text(period["end"]), ""])
    writer.writerow(["generated", "at", _text(data["generatedAt"]), _text(data["generatedBy"])])
    writer.writerow(["generated", "scope", scope_text(data["scope"]), "objects outside it are counted, not named"])
    for key, value in data["summary"].items():
        writer.writerow(["summary", key, value, ""])
    for key, value in data["violationCategories"].items():
        writer.writerow(["violation category", key, value, ""])
    for item in data["recentViolations"]:
        writer.writerow(["recent violation", item["rule"], _text(item["time"]), item["detail"]])
    for item in data["ruleStatus"]:
        writer.writerow(["rule status", item["rule"], item["status"], _text(item["violations"])])
    for item in data["trend"]:
        writer.writerow(
            ["trend", _text(item["period"]), item["complianceRate"], f"{item['violations']}/{item['events']}"]
        )
    for item in data["pii"]["flows"]:
        writer.writerow(["pii flow", item["from"], item["to"], " -> ".join(item["path"])])
    for key, value in data["pii"]["hidden"].items():
        writer.writerow(["pii hidden", key, value, "outside the scope"])
    for item in data["secretAccess"]["recent"]:
        writer.writerow(
            ["secret access", item["connection"], _text(item["time"]), f"{item['actor']} {item['outcome']}"]
        )
    writer.writerow(["secret access", "hidden", data["secretAccess"]["hidden"], "outside the scope"])
    chain = data["auditChain"]
    writer.writerow(["audit chain", "ok", chain["ok"], chain["reason"] or f"{chain['records']} records"])
    writer.writerow(["audit chain", "checked", _text(chain["checkedAt"]), chain["source"]])
    for item in data["requirements"]:
        writer.writerow(["requirement", item["rule"], item["title"], orjson.dumps(item["parameters"]).decode()])
    return out.getvalue().encode()


class _NumberedCanvas(pdfcanvas.Canvas):
    """Adds 'page N of M' and the generation stamp to every page once the page count is known."""

    stamp = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        count = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont("Helvetica", 8)
            self.setFillColor(colors.grey)
            self.drawString(18 * mm, 10 * mm, self.stamp)
            self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {count}")
            super().showPage()
        super().save()


def _table(rows: list[list[Any]], widths=None, header: bool = True) -> Table:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    body = [[Paragraph(_escape(_text(v)), cell) for v in row] for row in rows] or [[Paragraph("—", cell)]]
    table = Table(body, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c8ced8")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")))
    table.setStyle(TableStyle(style))
    return table


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chart(trend: list[dict[str, Any]]) -> Drawing:
    drawing = Drawing(170 * mm, 60 * mm)
    if not trend:
        drawing.add(String(10, 80, "No check results or audited events in this period.", fontSize=9))
        return drawing
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 30, 25, 170 * mm - 50, 60 * mm - 40
    plot.data = [[(index, item["complianceRate"]) for index, item in enumerate(trend)]]
    plot.lines[0].strokeColor = colors.HexColor("#1f6feb")
    plot.lines[0].strokeWidth = 1.5
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = 0, 100
    plot.yValueAxis.valueSteps = [0, 25, 50, 75, 100]
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, max(len(trend) - 1, 1)
    step = max(1, len(trend) // 6)
    plot.xValueAxis.valueSteps = list(range(0, len(trend), step))
    plot.xValueAxis.labelTextFormat = lambda i: _text(trend[int(i)]["period"])[:10] if int(i) < len(trend) else ""
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    drawing.add(plot)
    drawing.add(String(0, 60 * mm - 10, "Compliance rate (%)", fontSize=8))
    return drawing


def to_pdf(data: dict[str, Any]) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    period = data["period"]
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title="Tributary compliance report",
        author="Tributary",
        subject=f"{_text(period['start'])} to {_text(period['end'])}",
    )
    summary = data["summary"]
    story = [
        Paragraph("Compliance report", styles["Title"]),
        Paragraph(f"Period: {_text(period['start'])} to {_text(period['end'])}", styles["Normal"]),
        Paragraph(
            f"Generated {_text(data['generatedAt'])} by {_escape(data['generatedBy'] or 'Tributary')}", styles["Normal"]
        ),
        Paragraph(
            f"Scope: {_escape(scope_text(data['scope']))}. Figures count everything; the objects named are those in "
            "scope, and each list says how many it leaves out.",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Paragraph("Summary", styles["Heading2"]),
        _table(
            [
                ["Total events", "Compliant", "Violations", "Compliance rate", "Check evaluations", "Audited events"],
                [
                    summary["totalEvents"],
                    summary["compliantEvents"],
                    summary["violations"],
                    f"{summary['complianceRate']:.2f} %",
                    summary["checkEvaluations"],
                    summary["auditedEvents"],
                ],
            ]
        ),
        Spacer(1, 4 * mm),
        _chart(data["trend"]),
        Paragraph("Violation categories", styles["Heading2"]),
        _table([["Category", "Violations"], *[[k, v] for k, v in data["violationCategories"].items()]]),
        Paragraph("Rules at the end of the period", styles["Heading2"]),
        _table(
            [
                ["Rule", "Category", "Severity", "Status", "Violations"],
                *[[r["title"], r["category"], r["severity"], r["status"], r["violations"]] for r in data["ruleStatus"]],
            ],
            widths=[70 * mm, 28 * mm, 20 * mm, 22 * mm, 20 * mm],
        ),
        Paragraph("Recent violations", styles["Heading2"]),
        _table(
            [
                ["Time", "Category", "Rule or action", "Detail"],
                *[[v["time"], v["category"], v["rule"], v["detail"]] for v in data["recentViolations"]],
            ],
            widths=[35 * mm, 25 * mm, 35 * mm, 75 * mm],
        ),
        Paragraph("Personal data and where it flows", styles["Heading2"]),
        Paragraph(
            f"{data['pii']['sourceCount']} classified source(s), {data['pii']['flowCount']} downstream "
            "place(s) it reaches"
            + (
                f" ({data['pii']['hidden']['sources']} source(s) and {data['pii']['hidden']['flows']} flow(s) outside "
                "the scope are not listed)."
                if any(data["pii"]["hidden"].values())
                else "."
            ),
            styles["Normal"],
        ),
        _table(
            [["From", "To", "Hops"], *[[f["from"], f["to"], f["hops"]] for f in data["pii"]["flows"][:60]]],
            widths=[75 * mm, 75 * mm, 20 * mm],
        ),
        Paragraph("Access to secrets", styles["Heading2"]),
        Paragraph(
            f"{data['secretAccess']['total']} reveal request(s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(data["secretAccess"]["byOutcome"].items()))
            + (
                f" ({data['secretAccess']['hidden']} on connections outside the scope are not listed)"
                if data["secretAccess"]["hidden"]
                else ""
            ),
            styles["Normal"],
        ),
        _table(
            [
                ["Time", "Who", "Connection", "Outcome"],
                *[[a["time"], a["actor"], a["connection"], a["outcome"]] for a in data["secretAccess"]["recent"][:60]],
            ]
        ),
        Paragraph("Audit trail", styles["Heading2"]),
        Paragraph(
            "The hash chain verifies: "
            + (
                f"yes ({data['auditChain']['records']} records; {data['auditChain']['source']} at "
                f"{_text(data['auditChain']['checkedAt'])})."
                if data["auditChain"]["ok"]
                else f"NO, broken at record {data['auditChain']['brokenAt']}: "
                f"{_escape(data['auditChain']['reason'] or '')}"
            ),
            styles["Normal"],
        ),
        Paragraph("Requirements in force", styles["Heading2"]),
        _table(
            [
                ["Rule", "Category", "Severity", "Parameters", "Enabled"],
                *[
                    [r["title"], r["category"], r["severity"], orjson.dumps(r["parameters"]).decode(), r["enabled"]]
                    for r in data["requirements"]
                ],
            ],
            widths=[62 * mm, 28 * mm, 20 * mm, 40 * mm, 20 * mm],
        ),
    ]

    class Canvas(_NumberedCanvas):
        stamp = (
            f"Tributary compliance report · generated {_text(data['generatedAt'])} "
            f"by {data['generatedBy'] or 'Tributary'} · "
            + (data["scope"] if isinstance(data["scope"], str) else f"{len(data['scope'])} namespace(s)")
        )

    doc.build(story, canvasmaker=Canvas)
    return buffer.getvalue()


RENDERERS = {"json": to_json, "csv": to_csv, "pdf": to_pdf}
