"""The managers' report: the dashboard, its tables as files, and the consultations behind it."""

from __future__ import annotations

from dataclasses import replace

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django_countries import countries

from crm.access import role_required
from crm.exports import csv_response, xlsx_response
from crm.reauth import recent_auth_required
from outreach import charts
from outreach.comment_report import comment_report
from outreach.forms import ReportFilterForm
from outreach.reports import (
    COMMENT_TABLE_KEYS,
    TABLE_KEYS,
    comment_tables,
    consultation_report,
    report_consultations,
    report_tables,
)
from outreach.views import _export_header, _export_row

EXPORT_FORMATS = ("csv", "xlsx")
UNIONS_SHOWN = 50


@role_required("outreach.view_reports")
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    filters = form.filters()
    report = consultation_report(filters=filters)
    comments = comment_report(filters=filters)
    tables = {**report_tables(report), **comment_tables(comments)}
    # Thousands of unions make a list nobody reads on screen: the top ones here, all in the file.
    unions = tables["unions"]
    tables["unions"] = replace(unions, rows=unions.rows[:UNIONS_SHOWN])
    country_labels = {row.key: row.label for row in report.by_country}
    context = {
        "form": form,
        "report": report,
        "tables": tables,
        "query": request.GET.urlencode(),
        "month_chart": charts.columns(report.by_month),
        "country_chart": charts.bars(report.by_country, limit=32),
        "union_chart": charts.bars(report.by_union),
        "topic_chart": charts.bars(report.by_topic),
        "concern_chart": charts.bars(report.top_concerns),
        "comments": comments,
        "comment_country_chart": charts.bars(comments.by_country),
        "position_chart": charts.bars(report.positions),
        "position_stacks": charts.stacks(report.positions_by_country, country_labels),
        "unions_not_shown": len(unions.rows) - len(tables["unions"].rows),
        "last_month": report.by_month[-1].label if report.by_month else "",
        "not_consulted": [(code, countries.name(code)) for code in report.nato_not_consulted],
        "generated_at": timezone.now(),
    }
    return render(request, "outreach/reports/dashboard.html", context)


def _stamp() -> str:
    return f"{timezone.localdate():%Y-%m-%d}"


@role_required("outreach.view_reports")
@recent_auth_required
def table_export(request: HttpRequest, table: str, file_format: str) -> HttpResponseBase:
    if table not in (*TABLE_KEYS, *COMMENT_TABLE_KEYS) or file_format not in EXPORT_FORMATS:
        raise Http404(table)
    filters = ReportFilterForm(request.GET or None).filters()
    if table in COMMENT_TABLE_KEYS:
        found = comment_tables(comment_report(filters=filters))[table]
    else:
        found = report_tables(consultation_report(filters=filters))[table]
    filename = f"report-{table.replace('_', '-')}-{_stamp()}.{file_format}"
    header = [str(title) for title in found.header]
    rows = ([str(cell) if not isinstance(cell, int | float) else cell for cell in row]
            for row in found.rows)  # fmt: skip
    if file_format == "xlsx":
        return xlsx_response(header=header, rows=rows, filename=filename, sheet=table[:31])
    return csv_response(header=header, rows=rows, filename=filename)


@role_required("outreach.view_reports")
@recent_auth_required
def consultations_export(request: HttpRequest, file_format: str) -> HttpResponseBase:
    """Every consultation the report counts under the current filters, one row each."""
    if file_format not in EXPORT_FORMATS:
        raise Http404(file_format)
    consultations = report_consultations(filters=ReportFilterForm(request.GET or None).filters())
    rows = (_export_row(c) for c in consultations.iterator(chunk_size=500))
    filename = f"report-consultations-{_stamp()}.{file_format}"
    if file_format == "xlsx":
        return xlsx_response(
            header=_export_header(), rows=rows, filename=filename, sheet="consultations"
        )
    return csv_response(header=_export_header(), rows=rows, filename=filename)
