"""The monthly bulletin (月度通报): a PDF (WeasyPrint, Noto CJK through fontconfig) and an
XLSX (openpyxl) of one `StatsDoc`, byte-for-byte reproducible for the same figures.

Reproducible: the PDF carries no creation date and a fixed identifier derived from its
content; the XLSX's document properties carry the month's end as their date and the zip
entries a fixed timestamp. The same month over the same tables gives the same bytes, so
the SHA-256 written to the access log identifies what was handed out.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

from markupsafe import Markup, escape

from hub.reports.charts import Bar, hbars
from hub.reports.document import StatsDoc
from hub.reports.labels import offence_zh
from hub.reports.steps import BY_CODE, STEP_CODES

AgencyName = Callable[[str], str]
COLUMNS = ("opened", "over_threshold", "transfer_approved", "transfer_refused", "transferred",
           "accepted", "filed", "prosecuted", "penalised")
CSS = """
@page { size: A4 landscape; margin: 14mm; @bottom-right { content: counter(page) " / " counter(pages); font-size: 9pt; } }
body { font-family: "Noto Sans CJK SC", "Noto Sans CJK", sans-serif; font-size: 10pt; }
h1 { font-size: 16pt; margin: 0 0 4mm; } h2 { font-size: 12pt; margin: 5mm 0 2mm; }
table { border-collapse: collapse; width: 100%; } th, td { border: 0.5pt solid #888; padding: 1.2mm 2mm; }
th { background: #eef; } td.n { text-align: right; }
"""


def _stage_zh(code: str | None) -> str:
    return BY_CODE[code].zh if code in BY_CODE else "-"


def _agencies(doc: StatsDoc, names: list[str]) -> list[str]:
    """Every agency of the registry (those with nothing to report too), then any other."""
    return [*names, *sorted(a for a in doc.by_agency if a not in names)]


def bulletin_html(doc: StatsDoc, agencies: list[str], name: AgencyName) -> str:
    e = escape
    head = "".join(f"<th>{e(BY_CODE[c].zh)}</th>" for c in COLUMNS)
    rows = []
    for agency in _agencies(doc, agencies):
        counts = doc.by_agency.get(agency, {})
        pen = doc.penalties.get(agency)
        fine = f"{pen['fine']:.2f}" if pen else "0.00"
        rows.append(f"<tr><td>{e(name(agency))}</td>"
                    + "".join(f'<td class="n">{counts.get(c, 0)}</td>' for c in COLUMNS)
                    + f'<td class="n">{fine}</td>'
                    f'<td class="n">{doc.overdue.get(agency, 0)}</td></tr>')
    t = doc.totals
    pt = doc.penalty_totals()
    rows.append("<tr><th>合计</th>" + "".join(f'<td class="n">{t.get(c, 0)}</td>'
                                              for c in COLUMNS)
                + f'<td class="n">{pt["fine"]:.2f}</td>'
                f'<td class="n">{sum(doc.overdue.values())}</td></tr>')
    funnel = "".join(
        f"<tr><td>{e(BY_CODE[f['step']].zh)}</td><td class='n'>{f['count']}</td>"
        f"<td class='n'>{_pct(f['rate'])}</td></tr>"
        for f in doc.funnel)
    durations = "".join(
        f"<tr><td>{e(BY_CODE[code].zh)}</td><td class='n'>{d['n']}</td>"
        f"<td class='n'>{d['median']}</td><td class='n'>{d['p90']}</td>"
        f"<td class='n'>{'-' if d['deadline'] is None else d['deadline']}</td>"
        f"<td class='n'>{d['over']}</td></tr>"
        for code in STEP_CODES if (d := doc.durations.get(code)))
    alerts = "".join(f"<tr><td>{e(rule)}</td><td class='n'>{a['raised']}</td>"
                     f"<td class='n'>{a['resolved']}</td></tr>"
                     for rule, a in sorted(doc.alerts.items()))
    cases = "".join(
        f"<tr><td>{e(c['case_id'])}</td><td>{e(name(c['agency']))}</td>"
        f"<td>{e(offence_zh(c['offence']))}</td><td>{c['transferred_at']:%Y-%m-%d}</td>"
        f"<td>{e(_stage_zh(c['step']))}</td></tr>" for c in doc.transferred_cases)
    chart = hbars([Bar(name(a), doc.by_agency.get(a, {}).get("opened", 0))
                   for a in _agencies(doc, agencies)],
                  title="各单位行政立案数", chart_id="bulletin-agencies")
    none = "<tr><td colspan='9'>本月无 / none</td></tr>"
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>两法衔接月度通报 {e(doc.period.label)}</title><style>{CSS}</style></head><body>
<h1>两法衔接工作月度通报（{e(doc.period.zh)}）</h1>
<p>统计期间：{doc.period.start:%Y-%m-%d} 至 {doc.period.end:%Y-%m-%d}（不含），北京时间。
各项数字按该步骤发生的时间与办理单位计算。</p>
<h2>一、各单位数据</h2>
<table><tr><th>单位</th>{head}<th>罚款（元）</th><th>月末未解除预警</th></tr>{"".join(rows)}</table>
<p>行政处罚决定 {pt['count']} 件，罚款合计 {pt['fine']:.2f} 元，没收合计 {pt['confiscated']:.2f} 元。</p>
{Markup(chart)}
<h2>二、衔接漏斗</h2><table><tr><th>环节</th><th>数量</th><th>转化率</th></tr>{funnel}</table>
<h2>三、各环节用时（天）</h2><table><tr><th>环节</th><th>件数</th><th>中位数</th><th>第90百分位</th>
<th>法定期限</th><th>超期件数</th></tr>{durations or none}</table>
<h2>四、预警</h2><table><tr><th>规则</th><th>新发</th><th>解除</th></tr>{alerts or none}</table>
<h2>五、本月移送案件及月末所处阶段</h2><table><tr><th>案件</th><th>移送单位</th><th>罪名</th>
<th>移送日期</th><th>月末阶段</th></tr>{cases or none}</table>
</body></html>"""


def bulletin_pdf(doc: StatsDoc, agencies: list[str], name: AgencyName) -> bytes:
    from weasyprint import HTML  # heavy import: only when a bulletin is written

    html = bulletin_html(doc, agencies, name)
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    pdf: bytes = HTML(string=html).write_pdf(pdf_identifier=identifier)
    return pdf


def _fixed_zip(data: bytes, when: datetime) -> bytes:
    """The same zip with every entry's timestamp fixed (1980-01-01) and in the same order,
    and the document's modification time (which openpyxl sets to the time of saving) set to
    `when`."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp + rb"\g<2>", body)
            dst.writestr(fixed, body)
    return out.getvalue()


def workbook_bytes(sheets: list[tuple[str, list[str], list[list[object]]]],
                   when: datetime) -> bytes:
    """An XLSX of the given sheets (title, header, rows), reproducible for the same input."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    for sheet in list(wb.worksheets):
        wb.remove(sheet)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
    naive = when.replace(tzinfo=None)
    wb.properties.created = naive
    wb.properties.modified = naive
    wb.properties.creator = "linkage-hub"
    buffer = io.BytesIO()
    wb.save(buffer)
    return _fixed_zip(buffer.getvalue(), when)


def bulletin_xlsx(doc: StatsDoc, agencies: list[str], name: AgencyName) -> bytes:
    head = ["单位", "单位代码", *(BY_CODE[c].zh for c in COLUMNS), "行政处罚决定数", "罚款（元）",
            "没收（元）", "月末未解除预警"]
    rows: list[list[object]] = []
    for agency in _agencies(doc, agencies):
        counts = doc.by_agency.get(agency, {})
        pen = doc.penalties.get(agency, {"count": 0, "fine": 0, "confiscated": 0})
        rows.append([name(agency), agency, *(counts.get(c, 0) for c in COLUMNS), pen["count"],
                     float(pen["fine"]), float(pen["confiscated"]), doc.overdue.get(agency, 0)])
    funnel = [[BY_CODE[f["step"]].zh, f["step"], f["count"],
               None if f["rate"] is None else float(f["rate"])] for f in doc.funnel]
    durations: list[list[object]] = [
        [BY_CODE[c].zh, c, d["n"], _num(d["median"]), _num(d["p90"]), _num(d["deadline"]),
         d["over"]] for c in STEP_CODES if (d := doc.durations.get(c))]
    alerts: list[list[object]] = [[rule, a["raised"], a["resolved"]]
                                  for rule, a in sorted(doc.alerts.items())]
    cases: list[list[object]] = [
        [c["case_id"], name(c["agency"]), offence_zh(c["offence"]),
         c["transferred_at"].date().isoformat(), _stage_zh(c["step"])]
        for c in doc.transferred_cases]
    return workbook_bytes([
        ("各单位", head, rows),
        ("漏斗", ["环节", "代码", "数量", "转化率"], funnel),
        ("用时", ["环节", "代码", "件数", "中位数（天）", "第90百分位（天）", "法定期限（天）", "超期件数"],
         durations),
        ("预警", ["规则", "新发", "解除"], alerts),
        ("移送案件", ["案件", "移送单位", "罪名", "移送日期", "月末阶段"], cases),
    ], doc.period.end)


def _pct(rate: object) -> str:
    return "-" if rate is None else f"{float(str(rate)) * 100:.1f}%"


def _num(value: object) -> float | None:
    return None if value is None else float(str(value))
