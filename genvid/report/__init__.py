"""The thesis-style report (SPEC §8): self-contained HTML and PDF from one Jinja2 template.

    from genvid.report.build import build_report, Options
    from genvid.report.inputs import ReportPaths
    build_report(ReportPaths.under("."), "reports/report.html", "reports/report.pdf", Options())
"""
